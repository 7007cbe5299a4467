"""The ops commands of the runtime: `orderflow republish` and `orderflow stream`; other packages
add theirs through the `orderflow.commands` entry points (`orderflow replay` comes with the
projections). Long runs show a rich progress bar with events per second and the time left."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from orderflow.runtime.commands import settings_or_exit
from orderflow.runtime.history import order_history
from orderflow.runtime.republish import republish as republish_events
from orderflow.runtime.spec import resolve
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

console = Console()
EVENT_TOPICS = (ORDER_EVENTS, INVENTORY_EVENTS, BILLING_EVENTS, FULFILLMENT_EVENTS)


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text("? events/s" if rate is None else f"{rate:,.0f} events/s")


class _Left(ProgressColumn):
    def render(self, task: Task) -> Text:
        left = task.fields.get("left")
        return Text("-:--:--" if left is None else str(timedelta(seconds=round(left))))


class Pace:
    """Events per second since a bar's first update, and the time left at that pace. Rich's
    own estimate starts again whenever a task's total changes, as it does at each update once
    a replay reads past the count the topics held at its start (they keep growing): its bars
    showed 0 events/s and no time left for the rest of the run, and ended so."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._first: dict[str, tuple[float, int]] = {}

    def __call__(self, description: str, done: int, total: int) -> tuple[float, float] | None:
        """(events/s, seconds left), or None while too soon to tell."""
        now = self.clock()
        since, done_then = self._first.setdefault(description, (now, done))
        rate = (done - done_then) / (now - since) if now - since >= 0.5 else 0.0
        return (rate, (total - done) / rate) if rate > 0 else None


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar; yields update(done, total)."""
    with progress_bars([description]) as update:
        yield lambda done, total: update(description, done, total)


@contextmanager
def progress_bars(
    descriptions: Sequence[str], pace: Pace | None = None, on: Console = console
) -> Iterator[Callable[[str, int, int], None]]:
    """One progress bar per description; yields update(description, done, total)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate())
    pace = pace or Pace()
    with Progress(*columns, _Left(), console=on) as progress:
        tasks = {text: progress.add_task(text, total=None) for text in descriptions}

        def update(description: str, done: int, total: int) -> None:
            total = max(total, done)
            rate, left = pace(description, done, total) or (None, None)
            progress.update(tasks[description], completed=done, total=total, rate=rate, left=left)

        yield update


def republish(
    service: Annotated[str, typer.Argument(help="A service with an event store: intake, ...")],
    start: Annotated[int, typer.Option("--from", min=1, help="First notification id.")] = 1,
) -> None:
    """Publish a service's stored events to Kafka again (consumers skip what they have)."""
    try:
        spec = resolve(service)
    except LookupError as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit()
    try:
        # the bar comes with the first batch: what is refused before it draws none
        with ExitStack() as bar:
            updates: list[Callable[[int, int], None]] = []

            def on_batch(read: int, last: int) -> None:
                if not updates:
                    updates.append(bar.enter_context(progress_bar(f"republish {service}")))
                updates[0](read, last - start + 1)

            count = republish_events(spec, settings, start, on_batch)
    except ValueError as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
    console.print(f"{service}: {count} notifications from {start} published again")


#: Columns for a table printed to a pipe or a file: as many as its rows need.
_UNCUT = 1000


def stream(order_id: Annotated[str, typer.Argument(help="The order's id")]) -> None:
    """Every event of one order, across the services, in causal order."""
    found = order_history(settings_or_exit().kafka_bootstrap, order_id, EVENT_TOPICS)
    if not found:
        typer.echo(
            f"orderflow: no event names order {order_id} (the topics hold what the broker"
            " keeps: an embedded broker restarted starts empty, see orderflow republish)",
            err=True,
        )
        raise typer.Exit(1)
    table = Table(title=f"Order {order_id}: {len(found)} events", title_justify="left")
    for column in ("at", "id", "source", "event", "where", "caused by"):
        table.add_column(column)
    for item in found:
        event = item.event
        table.add_row(
            event.occurred_at.isoformat(timespec="milliseconds"),
            str(event.event_id)[:8],
            str(getattr(event, "source", "")),
            f"{event.type} v{event.version}",
            f"{item.topic}[{item.partition}]@{item.offset}",
            str(event.causation_id or "")[:8],
        )
    # to a pipe or a file, whole rows: a terminal's 80 columns would cut every cell short
    (console if console.is_terminal else Console(width=_UNCUT)).print(table)
