"""The inventory application: stock changes from the API, reservations due for expiry, and the
listings (SKUs below threshold, reservations by expiry) kept with the events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from orderflow.inventory.domain import Reservation, SkuStock, reservation_id, sku_id
from orderflow.runtime.conflicts import retry_on_conflict
from orderflow.runtime.loading import ServiceApplication
from orderflow.runtime.recorders import InboxRecorder, IndexCursor, IndexRow
from orderflow.runtime.settings import Settings
from orderflow.runtime.uow import UnitOfWork

log = structlog.get_logger("orderflow.inventory")
T = TypeVar("T")


class UnknownWarehouse(ValueError):
    pass


class SetAsList(Transcoding):
    """A set in a snapshot, stored as a sorted list (the same state gives the same bytes)."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class Inventory(ServiceApplication):
    # a SKU's stock grows by a few events per order that takes it: load it from a recent
    # snapshot, else every reservation replays the SKU's whole history
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[UUID]], int]] = {
        SkuStock: 200
    }

    def __init__(self, env: Mapping[str, str], settings: Settings) -> None:
        super().__init__(env=dict(env))
        self.settings = settings
        self.warehouses = {warehouse.id: warehouse for warehouse in settings.warehouses}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())  # a snapshot of SkuStock holds sets

    def index_row(self, aggregate: Any) -> IndexRow | None:
        if isinstance(aggregate, SkuStock):
            tag = "low" if aggregate.low else "ok"
            return IndexRow(aggregate.id, "skus", tag, micros(aggregate.created_on))
        if isinstance(aggregate, Reservation):
            expires = micros(aggregate.expires_at)
            return IndexRow(aggregate.id, "reservations", aggregate.state, expires)
        return None

    def new_stock(self, sku: str) -> SkuStock:
        threshold = self.settings.low_stock_threshold
        return SkuStock(id=sku_id(sku), sku=sku, threshold=threshold, allow_backorder=False)

    def require_warehouse(self, warehouse: str) -> None:
        if warehouse not in self.warehouses:
            known = ", ".join(sorted(self.warehouses))
            raise UnknownWarehouse(f"unknown warehouse {warehouse!r}; known: {known}")

    def stock(self, sku: str) -> SkuStock | None:
        try:
            found: SkuStock = self.repository.get(sku_id(sku))
        except AggregateNotFoundError:
            return None
        return found

    def change_stock(self, sku: str, change: Callable[[SkuStock], T]) -> tuple[SkuStock, T]:
        """Load (or start) a SKU's stock, change it and save; a concurrent writer (the consumer,
        another process) makes it start over from the stored state."""

        def attempt() -> tuple[SkuStock, T]:
            uow = UnitOfWork(self)
            stock = uow.find(sku_id(sku)) or self.new_stock(sku)
            uow.add(stock)
            result = filling_backorders(uow, stock, lambda: change(stock), None)
            uow.commit([])
            return stock, result

        return retry_on_conflict(attempt)

    def skus(
        self, low_only: bool, after: IndexCursor | None, limit: int
    ) -> tuple[list[SkuStock], IndexCursor | None]:
        recorder: InboxRecorder = self.recorder  # type: ignore[assignment]
        rows = recorder.select_index("skus", "low" if low_only else None, after, limit + 1)
        page: list[SkuStock] = [self.repository.get(UUID(row[1])) for row in rows[:limit]]
        return page, rows[limit - 1] if len(rows) > limit else None

    def reservation(self, order_id: UUID) -> Reservation | None:
        """None too for an order stopped before it was placed (nothing was ever held)."""
        try:
            found: object = self.repository.get(reservation_id(order_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Reservation) else None

    def expire_due(self, now: datetime, limit: int = 200) -> int:
        """Release held reservations past their time; one transaction each, so a payment
        authorised meanwhile (a version conflict) wins and that reservation stays."""
        recorder: InboxRecorder = self.recorder  # type: ignore[assignment]
        due = recorder.select_index("reservations", "held", None, limit, oldest_first=True)
        expired = 0
        for expires, aggregate_id in due:
            if expires > micros(now):
                break
            uow = UnitOfWork(self)
            reservation: Reservation = uow.get(UUID(aggregate_id))
            if reservation.expire(now):
                release_stock(uow, reservation)
                try:
                    uow.commit([])
                    expired += 1
                except IntegrityError:
                    log.info("reservation changed while expiring; next round", id=aggregate_id)
        return expired


def filling_backorders(
    uow: UnitOfWork, stock: SkuStock, change: Callable[[], T], caused_by: UUID | None
) -> T:
    """Change a SKU's stock and tell each order whose backorder the change filled (a receipt,
    an upward count): the SKU fills them first in, first out, the order's reservation
    publishes what can now ship."""
    before = _waiting(stock)
    result = change()
    after = _waiting(stock)
    for (order_id, warehouse), units in sorted(before.items()):
        filled = units - after.get((order_id, warehouse), 0)
        if filled > 0:
            reservation: Reservation = uow.get(reservation_id(UUID(order_id)))
            reservation.fill(warehouse, stock.sku, filled, caused_by)
    return result


def _waiting(stock: SkuStock) -> dict[tuple[str, str], int]:
    return {
        (order_id, warehouse): units
        for warehouse in stock.warehouses()
        for order_id, units in stock.backorders(warehouse).items()
    }


def release_stock(uow: UnitOfWork, reservation: Reservation) -> None:
    for sku in sorted({allocation["sku"] for allocation in reservation.allocations}):
        stock: SkuStock = uow.get(sku_id(sku))
        stock.release(reservation.order_id)
