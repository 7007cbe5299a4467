"""The unit of work of one batch: the aggregates its handlers touched, saved in one transaction
together with the inbox rows of the events that touched them, and their index rows when the
application lists its aggregates (see `index_rows`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate

from orderflow.runtime.recorders import InboxKey, IndexRow

Aggregate = MutableOrImmutableAggregate[UUID]


class UnitOfWork:
    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self._touched: dict[UUID, Any] = {}

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate as this batch left it (a second event of the batch sees the first's)."""
        if aggregate_id not in self._touched:
            self._touched[aggregate_id] = self.app.repository.get(aggregate_id)
        return self._touched[aggregate_id]

    def find(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def add(self, aggregate: Aggregate) -> None:
        self._touched[aggregate.id] = aggregate

    def commit(self, inbox: list[InboxKey]) -> None:
        """Store every pending event and the inbox rows in one transaction.

        `Application.save` would do the same, but checks each object against runtime protocols,
        which costs more than the rest of a small event's handling on Python 3.11."""
        events = [
            event for aggregate in self._touched.values() for event in aggregate.collect_events()
        ]
        self.app.events.put(events, inbox=inbox, index=index_rows(self.app, self._touched.values()))
        self._snapshot(events)

    def _snapshot(self, events: list[Any]) -> None:
        intervals = self.app.snapshotting_intervals
        if not (self.app.snapshots and intervals):
            return
        for event in events:
            aggregate = self._touched[event.originator_id]
            interval = intervals.get(type(aggregate))
            if interval and event.originator_version % interval == 0:
                self.app.take_snapshot(event.originator_id, version=event.originator_version)


def index_rows(app: Application[UUID], aggregates: Iterable[Any]) -> list[IndexRow]:
    """The index rows of `aggregates`, when the application keeps a listing (it defines
    `index_row(aggregate) -> IndexRow | None`); written with the events, never after them."""
    index_row = getattr(app, "index_row", None)
    if index_row is None:
        return []
    return [row for row in map(index_row, aggregates) if row is not None]
