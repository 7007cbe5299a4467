"""The `orderflow` command. Settings are validated first: a bad one is one line and exit 2."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from typing import Annotated

import psycopg
import typer
from confluent_kafka import KafkaException
from eventsourcing.persistence import InterfaceError, OperationalError
from rich.console import Console

from orderflow.runtime import collector, kafka, logs, ops_cli, system_cli
from orderflow.runtime.broker import EmbeddedBroker
from orderflow.runtime.commands import settings_or_exit, stop_on_signals, stopped_cleanly
from orderflow.runtime.console import topics_table
from orderflow.runtime.datastore import StoreUnavailable
from orderflow.runtime.dlq_cli import dlq
from orderflow.runtime.host import ServiceHost
from orderflow.runtime.relay import DeliveryFailed
from orderflow.runtime.spec import resolve
from orderflow.runtime.store import APPLICATION_PREFIX
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


app.add_typer(dlq, name="dlq")
app.command()(system_cli.up)
app.command()(system_cli.chaos)
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
    # libpq names every connection of this process after it (pg_stat_activity shows which
    # service holds what, and `orderflow chaos` drops only the stack's connections)
    os.environ.setdefault("PGAPPNAME", f"{APPLICATION_PREFIX}{name}")
    try:
        spec = resolve(name)
    except LookupError as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
    host = ServiceHost(spec, settings, port=port)
    collector.settle()  # again: the service's own modules and application are loaded now
    raise typer.Exit(host.run())


@app.command()
def broker(
    topics: Annotated[
        bool, typer.Option(help="Create the project's topics once it answers.")
    ] = True,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) in the foreground."""
    settings = settings_or_exit()
    stop_on_signals()
    port = int(settings.kafka_bootstrap.split(",")[0].rpartition(":")[2])
    log_path = settings.data_dir / "logs" / "broker.log"
    with stopped_cleanly("broker stopped"), EmbeddedBroker(port, log_path=log_path) as running:
        if topics:
            ensure_topics(running.bootstrap, ALL_TOPICS, settings.partitions)
        console.print(f"broker ready on {running.bootstrap} (pid {running.pid}); Ctrl-C stops it")
        running.wait()


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
        from orderflow.runtime.topics import TopicState, retentions

        known = describe_topics(bootstrap)
        kept = retentions(bootstrap, sorted(known))
        states = [
            TopicState(name, count, False, kept.get(name)) for name, count in sorted(known.items())
        ]
    others = sorted(set(describe_topics(bootstrap)) - {state.name for state in states})
    counts = message_counts(bootstrap, [state.name for state in states])
    console.print(topics_table(states, settings.partitions, counts))
    if others:
        console.print("other topics: " + ", ".join(others))


_KAFKA_SETTINGS = "ORDERFLOW_KAFKA_BOOTSTRAP and ORDERFLOW_KAFKA_OPTIONS"


def main() -> None:
    collector.settle()
    try:
        app()
    except KafkaException as error:  # the broker did not answer, or refused our client
        typer.echo(f"orderflow: Kafka: {kafka.reason_of(error)} (see {_KAFKA_SETTINGS})", err=True)
        sys.exit(1)
    except DeliveryFailed as error:  # a command's relay (republish): the broker did not confirm
        typer.echo(f"orderflow: Kafka: {error} (see {_KAFKA_SETTINGS})", err=True)
        sys.exit(1)
    except (psycopg.OperationalError, OperationalError, InterfaceError, StoreUnavailable) as error:
        # the database did not answer, refused us, or went away (the library's own errors)
        typer.echo(f"orderflow: PostgreSQL: {error} (see ORDERFLOW_DATABASE_URL)", err=True)
        sys.exit(1)
    sys.exit(0)
