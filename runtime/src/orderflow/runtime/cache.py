"""The consumer's aggregate cache: aggregates as this consumer last saved them, so a batch does not
read from the store, one round trip each, an aggregate it already holds.

Another writer (a second instance, an API call, a worker thread) can make an entry stale. The
unit of work checks every aggregate it took from here against the store before it commits, with
one query for the whole batch, and the store refuses a stale aggregate's new events (their
versions exist), so a stale entry costs a retry of the batch, never a wrong effect.

One consumer thread owns a cache: the aggregates it hands out are the cached objects themselves,
changed in place by handlers and dropped from here when their batch does not commit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

DEFAULT_SIZE = 5000


class AggregateCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, Any] = OrderedDict()

    def get(self, aggregate_id: UUID) -> Any | None:
        aggregate = self._entries.get(aggregate_id)
        if aggregate is not None:
            self._entries.move_to_end(aggregate_id)
        return aggregate

    def keep(self, aggregates: Iterable[Any]) -> None:
        for aggregate in aggregates:
            self._entries[aggregate.id] = aggregate
            self._entries.move_to_end(aggregate.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)  # the least recently used

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._entries.pop(aggregate_id, None)

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._entries  # a look, not a use: the order stays

    def __len__(self) -> int:
        return len(self._entries)
