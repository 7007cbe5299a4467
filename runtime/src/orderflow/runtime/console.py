"""What `orderflow up` and `orderflow topics` show: rich tables, nothing else."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from orderflow.runtime.stack import LocalStack
from orderflow.runtime.topics import TopicState


def topics_table(states: list[TopicState], configured: int, counts: dict[str, int]) -> Table:
    table = Table(title="Topics", title_justify="left")
    table.add_column("topic")
    table.add_column("partitions", justify="right")
    table.add_column("messages", justify="right")
    table.add_column("note")
    for state in states:
        note = "created now" if state.created else ""
        if state.partitions and state.partitions != configured:
            note = f"configured {configured}; partitions are never changed implicitly"
        table.add_row(state.name, str(state.partitions), str(counts.get(state.name, "?")), note)
    return table


def stack_view(stack: LocalStack, counts: dict[str, int]) -> Group:
    broker = Table(title="Broker", title_justify="left", show_header=False)
    broker.add_row("bootstrap", stack.settings.kafka_bootstrap)
    where = f"embedded Tansu, pid {stack.broker.pid}" if stack.broker else "external cluster"
    broker.add_row("kind", where)
    stores = Table(title="Stores", title_justify="left")
    stores.add_column("service")
    stores.add_column("store")
    stores.add_column("location")
    for store in stack.stores:
        stores.add_row(store.service, store.kind, store.location)
    topics = topics_table(stack.topics, stack.settings.partitions, counts)
    return Group(broker, topics, stores, "[dim]Ctrl-C stops everything.[/dim]")
