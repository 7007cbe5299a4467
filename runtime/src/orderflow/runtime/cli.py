"""The `orderflow` command. Settings are validated first: a bad one is one line and exit 2."""

from __future__ import annotations

import signal
import sys
import time
from importlib.metadata import entry_points
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live

from orderflow.runtime import logs, ops_cli
from orderflow.runtime.broker import BrokerFailed, EmbeddedBroker
from orderflow.runtime.console import stack_view, topics_table
from orderflow.runtime.dlq_cli import dlq
from orderflow.runtime.host import ServiceHost
from orderflow.runtime.settings import Settings, SettingsInvalid, load_settings
from orderflow.runtime.spec import resolve
from orderflow.runtime.stack import LocalStack
from orderflow.runtime.topics import describe_topics, ensure_topics
from orderflow.runtime.watermarks import message_counts
from orderflow.schemas.topics import ALL_TOPICS

app = typer.Typer(
    help="orderflow: event-sourced order processing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsInvalid as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


app.add_typer(dlq, name="dlq")
app.command()(ops_cli.republish)
app.command()(ops_cli.stream)
for _command in entry_points(group="orderflow.commands"):  # commands of other packages
    app.command(name=_command.name)(_command.load())


@app.command()
def service(
    name: Annotated[str, typer.Argument(help="An installed service, or module:attribute.")],
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default: the service's setting).")
    ] = None,
) -> None:
    """Run one service: its consumers, its relay and its HTTP API, in this process."""
    settings = settings_or_exit()
    logs.configure(settings.log_level, service=name)
    try:
        spec = resolve(name)
    except LookupError as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(ServiceHost(spec, settings, port=port).run())


@app.command()
def broker(
    topics: Annotated[
        bool, typer.Option(help="Create the project's topics once it answers.")
    ] = True,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) in the foreground."""
    settings = settings_or_exit()
    _stop_on_sigterm()
    port = int(settings.kafka_bootstrap.split(",")[0].rpartition(":")[2])
    try:
        with EmbeddedBroker(port, log_path=settings.data_dir / "logs" / "broker.log") as running:
            if topics:
                ensure_topics(running.bootstrap, ALL_TOPICS, settings.partitions)
            console.print(
                f"broker ready on {running.bootstrap} (pid {running.pid}); Ctrl-C stops it"
            )
            running.wait()
    except BrokerFailed as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("broker stopped")


@app.command()
def topics(
    create: Annotated[bool, typer.Option(help="Create the project's missing topics.")] = True,
) -> None:
    """List topics with their partition counts; create the project's missing ones."""
    settings = settings_or_exit()
    bootstrap = settings.kafka_bootstrap
    if create:
        states = ensure_topics(bootstrap, ALL_TOPICS, settings.partitions)
    else:
        from orderflow.runtime.topics import TopicState

        known = describe_topics(bootstrap)
        states = [TopicState(name, count, False) for name, count in sorted(known.items())]
    others = sorted(set(describe_topics(bootstrap)) - {state.name for state in states})
    counts = message_counts(bootstrap, [state.name for state in states])
    console.print(topics_table(states, settings.partitions, counts))
    if others:
        console.print("other topics: " + ", ".join(others))


@app.command()
def up(
    exit_after_start: Annotated[
        bool, typer.Option("--exit", help="Start, show the stack once, stop.")
    ] = False,
    refresh: Annotated[float, typer.Option(help="Seconds between screen updates.")] = 2.0,
    services: Annotated[
        bool, typer.Option(help="Run every service as its own process (else broker and stores).")
    ] = True,
) -> None:
    """Run the local stack: broker, topics, every service's store and every service."""
    settings = settings_or_exit()
    _stop_on_sigterm()
    try:
        with LocalStack(settings, with_services=services) as stack:
            if exit_after_start:
                _await_services(stack)
                console.print(_view(stack))
                return
            with Live(_view(stack), console=console, refresh_per_second=1) as live:
                while True:
                    time.sleep(refresh)
                    live.update(_view(stack))
    except BrokerFailed as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("stopped")


def _await_services(stack: LocalStack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(s.state() == "starting" for s in stack.services) and time.monotonic() < deadline:
        time.sleep(0.3)


def _view(stack: LocalStack) -> Group:
    return stack_view(stack, message_counts(stack.settings.kafka_bootstrap, ALL_TOPICS))


def main() -> None:
    app()
    sys.exit(0)
