"""The unit of work of one batch: the aggregates its handlers touched, saved in one transaction
together with the inbox rows of the events that touched them, and their index rows when the
application lists its aggregates (see `index_rows`). Given the consumer's cache, it takes
aggregates from there and checks them against the store before committing (see `cache`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate

from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.loading import load_found, replay
from orderflow.runtime.recorders import InboxKey, InboxRecorder, IndexRow

Aggregate = MutableOrImmutableAggregate[UUID]


class StaleAggregates(Exception):
    """Aggregates the cache gave this batch were changed in the store by another writer."""

    def __init__(self, aggregate_ids: list[UUID]) -> None:
        super().__init__(f"{len(aggregate_ids)} cached aggregates changed in the store")
        self.aggregate_ids = aggregate_ids


class UnitOfWork:
    def __init__(
        self,
        app: Application[UUID],
        cache: AggregateCache | None = None,
        absent: frozenset[UUID] = frozenset(),
    ) -> None:
        self.app, self.cache = app, cache
        self.absent = absent  # known not to be in the store: not looked for there (see inbox)
        self._touched: dict[UUID, Any] = {}
        self._cached_versions: dict[UUID, int] = {}  # as the cache gave them, before any change

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate as this batch left it (a second event of the batch sees the first's)."""
        if aggregate_id not in self._touched:
            self._touched[aggregate_id] = self._load(aggregate_id)
        return self._touched[aggregate_id]

    def preload(self, aggregate_ids: Iterable[UUID]) -> None:
        """Read in one query those of `aggregate_ids` this batch has not touched and the cache
        does not hold, for the `get`s to come (a warehouse round read each shipment alone, a
        batch run again each aggregate its last attempt dropped from the cache); fresh from the
        store, they need no check against it at commit. An application that takes snapshots
        reads them one by one at `get` (see `load_all`)."""
        if self.app.snapshots is not None:
            return
        wanted = [
            id_
            for id_ in aggregate_ids
            if id_ not in self._touched
            and id_ not in self.absent
            and (self.cache is None or id_ not in self.cache)
        ]
        if wanted:
            self._touched.update(load_found(self.app, wanted))

    def _load(self, aggregate_id: UUID) -> Any:
        if aggregate_id in self.absent:
            raise AggregateNotFoundError(aggregate_id)
        cached = self.cache.get(aggregate_id) if self.cache is not None else None
        if cached is None:
            return self.app.repository.get(aggregate_id, projector_func=replay)
        self._cached_versions[aggregate_id] = cached.version
        return cached

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
        self._check_cached()
        changed, events = [], []
        for aggregate in self._touched.values():
            pending = aggregate.collect_events()
            if pending:
                changed.append(aggregate)
                events += pending
        # only a changed aggregate's index row: one only read may be older than the stored row,
        # which another writer may have moved on meanwhile (the listing would step back)
        self.app.events.put(events, inbox=inbox, index=index_rows(self.app, changed))
        if self.cache is not None:
            self.cache.keep(self._touched.values())
        self._snapshot(events)

    def discard(self) -> None:
        """The batch will not commit: its aggregates may be half changed, so the cache drops
        them and the next attempt loads them from the store."""
        if self.cache is not None:
            self.cache.forget(self._touched)

    def _check_cached(self) -> None:
        """One query for every aggregate the cache gave: each must still be the latest version.
        (A stale one that is also written would be refused by the store anyway; this covers the
        ones a handler only read to decide.)"""
        stale = self.stale()
        if stale:
            raise StaleAggregates(stale)

    def stale(self) -> list[UUID]:
        """The aggregates the cache gave this batch that another writer has changed since."""
        if not self._cached_versions:
            return []
        recorder: InboxRecorder = self.app.recorder  # type: ignore[assignment]
        stored = recorder.latest_versions(list(self._cached_versions))
        cached = self._cached_versions.items()
        return [id_ for id_, version in cached if stored.get(id_) != version]

    def _snapshot(self, events: list[Any]) -> None:
        """Snapshot each aggregate whose events crossed its interval, from the state in hand
        (just saved, so the stored history gives the same), not by loading it again."""
        intervals = self.app.snapshotting_intervals
        if not (self.app.snapshots and intervals):
            return
        due: dict[UUID, Any] = {}
        for event in events:
            aggregate = self._touched[event.originator_id]
            interval = intervals.get(type(aggregate))
            if interval and event.originator_version % interval == 0:
                due[aggregate.id] = aggregate
        if due:
            self.app.snapshots.put([self._snapshot_class(a).take(a) for a in due.values()])

    def _snapshot_class(self, aggregate: Any) -> Any:
        return getattr(type(aggregate), "Snapshot", type(self.app).snapshot_class)


def index_rows(app: Application[UUID], aggregates: Iterable[Any]) -> list[IndexRow]:
    """The index rows of `aggregates`, when the application keeps a listing (it defines
    `index_row(aggregate) -> IndexRow | None`); written with the events, never after them."""
    index_row = getattr(app, "index_row", None)
    if index_row is None:
        return []
    return [row for row in map(index_row, aggregates) if row is not None]
