"""The fulfillment application: shipments created from an order's allocation, moved by people,
the simulator or the carrier, and found by id or by order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from orderflow.fulfillment.carrier import Carrier, CarrierRefused, SandboxCarrier
from orderflow.fulfillment.domain import (
    NEXT,
    Dispatch,
    IllegalTransition,
    Shipment,
    backorder_shipment_id,
    dispatch_id,
    shipment_id_for,
    with_article,
)
from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.conflicts import retry_on_conflict
from orderflow.runtime.loading import ServiceApplication
from orderflow.runtime.recorders import InboxRecorder, IndexRow
from orderflow.runtime.settings import Settings
from orderflow.runtime.uow import StaleAggregates, UnitOfWork


class Fulfillment(ServiceApplication):
    def __init__(
        self, env: Mapping[str, str], settings: Settings, carrier: Carrier | None = None
    ) -> None:
        super().__init__(env=dict(env))
        self.settings = settings
        self.carrier: Carrier = carrier or SandboxCarrier()

    def index_row(self, aggregate: Any) -> IndexRow | None:
        if not isinstance(aggregate, Shipment):
            return None
        moved = int(aggregate.modified_on.timestamp() * 1_000_000)
        return IndexRow(aggregate.id, "shipments", aggregate.state, moved)

    def shipment(self, shipment_id: UUID) -> Shipment | None:
        try:
            found: Shipment = self.repository.get(shipment_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Shipment) else None

    def shipments_of(self, order_id: UUID) -> list[Shipment] | None:
        try:
            dispatch: Dispatch = self.repository.get(dispatch_id(order_id))
        except AggregateNotFoundError:
            return None
        return [self.repository.get(UUID(s)) for s in dispatch.shipments]

    def move(self, shipment_id: UUID, to: str) -> Shipment:
        """One step of a shipment, by hand, the simulator or the carrier; booking the carrier
        when it ships. A concurrent move makes it start over from the stored state."""

        def attempt() -> Shipment:
            shipment = self.shipment(shipment_id)
            if shipment is None:
                raise LookupError(f"no shipment {shipment_id}")
            step(self.carrier, shipment, to)
            self.save(shipment, index=[self.index_row(shipment)])
            return shipment

        return retry_on_conflict(attempt)

    def move_all(
        self, shipment_ids: Sequence[UUID], to: str, cache: AggregateCache | None = None
    ) -> int:
        """Move shipments one step each in one transaction (the warehouse simulator's round);
        those that cannot take the step are left as they are. When another writer moved one
        meanwhile, the round is done again one shipment at a time, as `move` does it."""
        return self._in_one_transaction(
            shipment_ids,
            lambda shipment: _step_if_legal(self.carrier, shipment, to),
            lambda shipment_id: self._move_if_legal(shipment_id, to),
            cache,
        )

    def finish_all(self, shipment_ids: Sequence[UUID], cache: AggregateCache | None = None) -> int:
        """Every step left for each shipment (to delivered, or to the exception a carrier's
        refusal makes) in one transaction: the simulator's round when no delay separates the
        steps, which would otherwise take a transaction per step. When another writer moved one
        meanwhile, each shipment is finished in a transaction of its own. The steps taken."""
        return self._in_one_transaction(
            shipment_ids,
            lambda shipment: _steps_left(self.carrier, shipment),
            self._finish,
            cache,
        )

    def _in_one_transaction(
        self,
        shipment_ids: Sequence[UUID],
        moves: Callable[[Shipment], int],
        alone: Callable[[UUID], int],
        cache: AggregateCache | None,
    ) -> int:
        uow = UnitOfWork(self, cache)
        try:
            uow.preload(shipment_ids)
            moved = sum(moves(uow.get(id_)) for id_ in shipment_ids)
            uow.commit([])
            return moved
        except (IntegrityError, StaleAggregates):
            uow.discard()
        except BaseException:
            uow.discard()  # the shipments in the cache may be half moved
            raise
        return sum(alone(id_) for id_ in shipment_ids)

    def _move_if_legal(self, shipment_id: UUID, to: str) -> int:
        try:
            self.move(shipment_id, to)
            return 1
        except IllegalTransition:
            return 0

    def _finish(self, shipment_id: UUID) -> int:
        """Every step left for one shipment, from its stored state, in one transaction."""

        def attempt() -> int:
            shipment = self.shipment(shipment_id)
            moved = _steps_left(self.carrier, shipment) if shipment else 0
            if shipment and moved:
                self.save(shipment, index=[self.index_row(shipment)])
            return moved

        return retry_on_conflict(attempt)

    def due(self, state: str, older_than: float, limit: int = 200) -> list[UUID]:
        """Shipments in `state` whose last step is at least `older_than` seconds old."""
        recorder: InboxRecorder = self.recorder  # type: ignore[assignment]
        rows = recorder.select_index("shipments", state, None, limit, oldest_first=True)
        cutoff = int((datetime.now(UTC).timestamp() - older_than) * 1_000_000)
        return [UUID(aggregate_id) for moved, aggregate_id in rows if moved <= cutoff]


def _step_if_legal(carrier: Carrier, shipment: Shipment, to: str) -> int:
    try:
        step(carrier, shipment, to)
        return 1
    except IllegalTransition:
        return 0  # moved meanwhile (by a person, a webhook, another process)


def _steps_left(carrier: Carrier, shipment: Shipment) -> int:
    moved = 0
    while shipment.state in NEXT and _step_if_legal(carrier, shipment, NEXT[shipment.state]):
        moved += 1
    return moved


def step(carrier: Carrier, shipment: Shipment, to: str) -> None:
    if to != "shipped":
        shipment.advance(to)
        return
    if shipment.state != "packed":
        raise IllegalTransition(f"{with_article(shipment.state)} shipment cannot be shipped")
    try:
        booking = carrier.book(shipment.id, shipment.address)
    except CarrierRefused as refused:
        shipment.refuse(str(refused))
        return
    shipment.advance("shipped", booking)


def create_shipments(uow: UnitOfWork, dispatch: Dispatch, caused_by: UUID) -> None:
    """The allocation's shipments: one per warehouse."""
    assert dispatch.allocation is not None
    ids = _new_shipments(uow, dispatch, dispatch.allocation, shipment_id_for, caused_by)
    dispatch.created(ids)


def create_fill_shipments(uow: UnitOfWork, dispatch: Dispatch, fill: int, caused_by: UUID) -> None:
    """A filled backorder's shipments: one per warehouse it was filled in."""

    def new_id(order_id: UUID, warehouse: str) -> UUID:
        return backorder_shipment_id(order_id, fill, warehouse)

    ids = _new_shipments(uow, dispatch, dispatch.fills[fill], new_id, caused_by)
    dispatch.created_for_fill(fill, ids)


def _new_shipments(
    uow: UnitOfWork,
    dispatch: Dispatch,
    allocation: dict[str, dict[str, int]],
    new_id: Callable[[UUID, str], UUID],
    caused_by: UUID,
) -> list[UUID]:
    assert dispatch.address is not None
    assert dispatch.correlation_id is not None
    created = []
    for warehouse, lines in sorted(allocation.items()):
        shipment = Shipment(
            id=new_id(dispatch.order_id, warehouse),
            order_id=dispatch.order_id,
            warehouse=warehouse,
            lines=lines,
            address=dispatch.address,
            correlation_id=dispatch.correlation_id,
            caused_by=caused_by,
        )
        uow.add(shipment)
        created.append(shipment.id)
    return created
