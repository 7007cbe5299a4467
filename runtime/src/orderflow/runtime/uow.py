"""The unit of work of one batch: the aggregates its handlers touched, saved in one transaction
together with the inbox rows of the events that touched them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate

from orderflow.runtime.recorders import InboxKey

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
        self.app.save(*self._touched.values(), inbox=inbox)
