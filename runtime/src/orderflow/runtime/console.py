"""What `orderflow up` and `orderflow topics` show: rich tables, nothing else."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from orderflow.runtime.stack import LocalStack
from orderflow.runtime.topics import TopicState


def topics_table(states: list[TopicState], configured: int, counts: dict[str, int]) -> Table:
    table = Table(title="Topics", title_justify="left")
    # a name is what an operator copies: never wrapped, whatever the notes take on a narrow
    # terminal (or none: a pipe is 80 columns)
    table.add_column("topic", no_wrap=True, min_width=max((len(s.name) for s in states), default=5))
    table.add_column("partitions", justify="right")
    table.add_column("messages", justify="right")
    table.add_column("kept")
    table.add_column("note")
    for state in states:
        note = "created now" if state.created else ""
        if state.partitions and state.partitions != configured:
            note = f"configured {configured}; partitions are never changed implicitly"
        if state.kept_too_briefly:
            note = (
                "[red]the broker deletes older events: a replay would rebuild without them;"
                " set retention.ms -1 (docs/deploy.md)[/red]"
            )
        table.add_row(
            state.name,
            str(state.partitions),
            str(counts.get(state.name, "?")),
            _kept(state.retention_ms),
            note,
        )
    return table


def _kept(retention_ms: int | None) -> str:
    if retention_ms is None:
        return "?"
    if retention_ms < 0:
        return "forever"
    days = retention_ms / 86_400_000
    return f"{days:g} days" if days >= 1 else f"{retention_ms / 3_600_000:g} h"


def stack_view(stack: LocalStack, counts: dict[str, int]) -> Group:
    broker = Table(title="Broker", title_justify="left", show_header=False)
    broker.add_row("bootstrap", stack.settings.kafka_bootstrap)
    where = f"embedded Tansu, pid {stack.broker.pid}" if stack.broker else "external cluster"
    broker.add_row("kind", where)
    share = stack.broker.cpu.share() if stack.broker and stack.broker.cpu else None
    if share is not None:
        broker.add_row("CPU", broker_cpu(share))
    stores = Table(title="Stores", title_justify="left")
    stores.add_column("service")
    stores.add_column("store")
    stores.add_column("location")
    for store in stack.stores:
        stores.add_row(store.service, store.kind, store.location)
    topics = topics_table(stack.topics, stack.settings.partitions, counts)
    parts: list[RenderableType] = [broker, topics, stores]
    if stack.services:
        parts += [services_table(stack), keys_line(stack)]
    return Group(*parts, "[dim]Ctrl-C stops everything.[/dim]")


def broker_cpu(share: float) -> str:
    """How busy the embedded broker is; past half a core, why: each fetch that finds something
    new reads the partition's whole list of stored batches, so its cost grows with what the
    topics hold, and a long run slows down until the stack is restarted (topics start empty)."""
    shown = f"{share:.0%} of a core"
    if share < 0.5:
        return shown
    return f"{shown}: grows with what the topics hold (README, Embedded broker)"


def services_table(stack: LocalStack) -> Table:
    table = Table(title="Services", title_justify="left")
    for column in ("service", "API", "pid", "state", "log"):
        table.add_column(column)
    host = stack.settings.host
    for service in stack.services:
        api = f"http://{host}:{service.port}/docs" if service.port else "-"
        table.add_row(
            service.label, api, str(service.process.pid), service.state(), str(service.log)
        )
    return table


def keys_line(stack: LocalStack) -> str:
    if stack.settings.channel_keys:  # configured keys are credentials: never shown
        return "channel API keys: as configured in ORDERFLOW_CHANNEL_KEYS"
    shown = ", ".join(f"{channel} = {key}" for channel, key in stack.channel_keys.items())
    return f"channel API keys (development): {shown}"
