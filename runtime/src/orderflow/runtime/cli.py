"""The `orderflow` command. Settings are validated first: a bad one is one line and exit 2."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
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
from orderflow.runtime.orders_view import orders_view, summary
from orderflow.runtime.settings import Settings, SettingsInvalid, load_settings
from orderflow.runtime.simulator import TERMINAL, ChannelSimulator
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
    """Turn SIGTERM into the same clean shutdown as Ctrl-C, and make Ctrl-C (SIGINT) work even
    when the parent started us with SIGINT ignored, as a shell does for a background job:
    Python then installs no handler of its own and SIGINT would do nothing."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


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
        bool,
        typer.Option("--exit", help="Start, show the stack once (or run --orders N), stop."),
    ] = False,
    refresh: Annotated[float, typer.Option(help="Seconds between screen updates.")] = 2.0,
    services: Annotated[
        bool, typer.Option(help="Run every service as its own process (else broker and stores).")
    ] = True,
    orders: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Orders the channel simulator places (default: on until stopped). With --exit: "
            "wait until each has ended, summarise, exit 0 only if all did.",
        ),
    ] = None,
    rate: Annotated[float, typer.Option(min=0.1, help="Orders per second placed.")] = 10.0,
    simulate: Annotated[bool, typer.Option(help="Run the channel simulator.")] = True,
) -> None:
    """Run the local stack: broker, topics, stores, every service, and a channel simulator."""
    settings = settings_or_exit()
    _stop_on_sigterm()
    stopping = threading.Event()
    try:
        with LocalStack(settings, with_services=services) as stack:
            if exit_after_start:
                _await_services(stack)
            wanted = services and simulate and (orders is not None or not exit_after_start)
            simulator = _start_simulator(stack, rate, orders, stopping) if wanted else None
            try:
                _show(stack, simulator, exit_after_start, orders, rate, refresh)
            finally:  # before the broker stops: its producer must not wait for it at exit
                stopping.set()
                if simulator is not None:
                    simulator.close()
    except BrokerFailed as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("stopped")


def _show(
    stack: LocalStack,
    simulator: ChannelSimulator | None,
    exit_after_start: bool,
    orders: int | None,
    rate: float,
    refresh: float,
) -> None:
    """The live view until Ctrl-C; with --exit, one view or the run of --orders N."""
    if exit_after_start:
        if simulator is not None and orders is not None:
            raise typer.Exit(_run_to_the_end(stack, simulator, orders, rate))
        console.print(_view(stack, simulator))
        return
    with Live(_view(stack, simulator), console=console, refresh_per_second=1) as live:
        while True:
            time.sleep(refresh)
            live.update(_view(stack, simulator))


def _await_services(stack: LocalStack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(s.state() == "starting" for s in stack.services) and time.monotonic() < deadline:
        time.sleep(0.3)


def _local(stack: LocalStack, port: int) -> str:
    host = stack.settings.host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104


def _start_simulator(
    stack: LocalStack, rate: float, orders: int | None, stopping: threading.Event
) -> ChannelSimulator:
    settings = stack.settings
    simulator = ChannelSimulator(
        settings.kafka_bootstrap,
        _local(stack, settings.intake_port),
        _local(stack, settings.inventory_port),
        stack.channel_keys,
        rate,
    )

    def place() -> None:
        _await_services(stack)  # the simulator places orders once the services answer
        simulator.run(stopping, orders)

    threading.Thread(target=place, name="simulator", daemon=True).start()
    return simulator


def _run_to_the_end(
    stack: LocalStack, simulator: ChannelSimulator, orders: int, rate: float
) -> int:
    """Wait until every placed order has ended; summarise; 0 if all did, else 1."""
    started = time.monotonic()
    deadline = started + orders / rate + 120
    statuses = simulator.statuses()
    while len(simulator.placed) < orders or not _all_ended(statuses):
        if time.monotonic() > deadline:
            break
        time.sleep(1.0)
        statuses = simulator.statuses()
    elapsed = time.monotonic() - started
    console.print(
        summary(simulator, statuses, elapsed, _local(stack, stack.settings.tracking_port))
    )
    return 0 if len(simulator.placed) == orders and _all_ended(statuses) else 1


def _all_ended(statuses: Counter[str]) -> bool:
    return all(status in TERMINAL for status, count in statuses.items() if count)


def _view(stack: LocalStack, simulator: ChannelSimulator | None = None) -> Group:
    parts = stack_view(stack, message_counts(stack.settings.kafka_bootstrap, ALL_TOPICS))
    if not stack.services:
        return parts
    tracking = _local(stack, stack.settings.tracking_port)
    return Group(parts, orders_view(tracking, simulator))


def main() -> None:
    app()
    sys.exit(0)
