"""Fulfillment's aggregates: what it knows of an order (`Dispatch`), and its shipments.

A shipment moves created → picked → packed → shipped → delivered, or to `exception` when the
carrier refuses it, or to `cancelled` when the order is cancelled before it shipped. The
order's events arrive through three topics in any order, so `Dispatch` records facts and says
when the shipments are due: the allocation is known and the payment authorised. Backordered
units ship later, each fill of them (BackorderFilled) as shipments of its own. No I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

NEXT = {"created": "picked", "picked": "packed", "packed": "shipped", "shipped": "delivered"}
OPEN = frozenset({"created", "picked", "packed"})


class IllegalTransition(Exception):
    """The shipment or dispatch cannot take this event or command."""


def with_article(state: str) -> str:
    """The article for a state in a message: "an exception shipment", "a packed shipment"."""
    return f"an {state}" if state[:1] in "aeiou" else f"a {state}"


def dispatch_id(order_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:dispatch/{order_id}")


def shipment_id_for(order_id: UUID, warehouse: str) -> UUID:
    """One shipment per order and warehouse: creating it twice is a version conflict."""
    return uuid5(NAMESPACE_URL, f"orderflow:shipment/{order_id}/{warehouse}")


def backorder_shipment_id(order_id: UUID, fill: int, warehouse: str) -> UUID:
    """One shipment per fill of a backorder and warehouse, as `shipment_id_for`."""
    return uuid5(NAMESPACE_URL, f"orderflow:shipment/{order_id}/backorder/{fill}/{warehouse}")


class Dispatch(Aggregate):
    @event("Opened")
    def __init__(self, id: UUID, order_id: UUID) -> None:
        self.order_id = order_id
        self.address: dict[str, Any] | None = None
        self.allocation: dict[str, dict[str, int]] | None = None  # warehouse → SKU → units
        self.authorized = False
        self.cancelled = False
        self.correlation_id: UUID | None = None
        self.shipments: list[str] = []
        self.first_created = False  # the allocation's shipments (none if all was backordered)
        self.fills: dict[int, dict[str, dict[str, int]]] = {}  # fill → warehouse → SKU → units
        self.fills_shipped: set[int] = set()

    def due_for_shipments(self) -> bool:
        ready = self.allocation is not None and self.authorized
        return ready and not self.cancelled and not self.first_created

    def fills_due(self) -> list[int]:
        """Filled backorders still to ship, once the order can ship at all."""
        if not self.authorized or self.cancelled or self.address is None:
            return []
        return sorted(set(self.fills) - self.fills_shipped)

    def placed(self, address: dict[str, Any], correlation_id: UUID) -> None:
        if self.address is None:
            self._placed(address=address, correlation_id=correlation_id)

    @event("Placed")
    def _placed(self, address: dict[str, Any], correlation_id: UUID) -> None:
        self.address, self.correlation_id = address, correlation_id

    def allocated(self, allocations: list[dict[str, Any]], correlation_id: UUID) -> None:
        """Stock on hand, per warehouse; backordered units wait for their fill."""
        if self.allocation is None:
            self._allocated(allocation=by_warehouse(allocations), correlation_id=correlation_id)

    @event("Allocated")
    def _allocated(self, allocation: dict[str, dict[str, int]], correlation_id: UUID) -> None:
        self.allocation = allocation
        self.correlation_id = self.correlation_id or correlation_id

    def authorize(self) -> None:
        if not self.authorized:
            self._authorized()

    @event("Authorized")
    def _authorized(self) -> None:
        self.authorized = True

    def cancel(
        self,
        correlation_id: UUID,
        caused_by: UUID | None = None,
        stopped: Sequence[UUID] = (),
        went_ahead: Sequence[UUID] = (),
    ) -> bool:
        """Nothing more of the order ships; `stopped` are its shipments that did not leave,
        `went_ahead` those that had. False if it was cancelled before (nothing is said twice)."""
        if self.cancelled:
            return False
        self._stopped(
            order_id=self.order_id,
            stopped=[str(s) for s in stopped],
            went_ahead=[str(s) for s in went_ahead],
            correlation_id=correlation_id,
            caused_by=caused_by,
        )
        return True

    @event("Cancelled")
    def _cancelled(self) -> None:
        """Stored by earlier versions, which said nothing of the shipments; kept for replay."""
        self.cancelled = True

    @event("Stopped")
    def _stopped(
        self,
        order_id: UUID,
        stopped: list[str],
        went_ahead: list[str],
        correlation_id: UUID,
        caused_by: UUID | None,
    ) -> None:
        self.cancelled = True

    def backorder_filled(self, fill: int, allocations: list[dict[str, Any]]) -> None:
        if fill not in self.fills:
            self._filled(fill=fill, allocation=by_warehouse(allocations))

    @event("BackorderFilled")
    def _filled(self, fill: int, allocation: dict[str, dict[str, int]]) -> None:
        self.fills[fill] = allocation

    def created(self, shipment_ids: list[UUID]) -> None:
        self._created(shipments=[str(s) for s in shipment_ids])

    @event("ShipmentsCreated")
    def _created(self, shipments: list[str]) -> None:
        self.shipments = self.shipments + shipments
        self.first_created = True

    def created_for_fill(self, fill: int, shipment_ids: list[UUID]) -> None:
        self._created_for_fill(fill=fill, shipments=[str(s) for s in shipment_ids])

    @event("BackorderShipmentsCreated")
    def _created_for_fill(self, fill: int, shipments: list[str]) -> None:
        self.shipments = self.shipments + shipments
        self.fills_shipped.add(fill)


def by_warehouse(allocations: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Units from stock on hand, per warehouse and SKU; backordered ones wait for their fill."""
    per_warehouse: dict[str, dict[str, int]] = defaultdict(dict)
    for allocation in allocations:
        if not allocation.get("backordered"):
            lines = per_warehouse[allocation["warehouse"]]
            lines[allocation["sku"]] = lines.get(allocation["sku"], 0) + allocation["quantity"]
    return dict(per_warehouse)


class Shipment(Aggregate):
    @event("Created")
    def __init__(
        self,
        id: UUID,
        order_id: UUID,
        warehouse: str,
        lines: dict[str, int],
        address: dict[str, Any],
        correlation_id: UUID,
        caused_by: UUID | None,
    ) -> None:
        self.order_id, self.warehouse, self.lines = order_id, warehouse, lines
        self.address, self.correlation_id = address, correlation_id
        self.state = "created"
        self.carrier: dict[str, str] | None = None
        self.problem: str | None = None

    def advance(self, to: str, carrier: dict[str, str] | None = None) -> None:
        """One step along the happy path; anything else is an illegal transition."""
        if NEXT.get(self.state) != to:
            raise IllegalTransition(f"{with_article(self.state)} shipment cannot be {to}")
        if to == "shipped":
            if carrier is None:
                raise IllegalTransition("shipping needs the carrier's booking")
            self._shipped(
                carrier=carrier,
                order_id=self.order_id,
                lines=self.lines,
                warehouse=self.warehouse,
                correlation_id=self.correlation_id,
            )
        elif to == "delivered":
            self._delivered(order_id=self.order_id, correlation_id=self.correlation_id)
        else:
            self._moved(to=to)

    @event("Moved")
    def _moved(self, to: str) -> None:
        self.state = to

    @event("Shipped")
    def _shipped(
        self,
        carrier: dict[str, str],
        order_id: UUID,
        lines: dict[str, int],
        warehouse: str,
        correlation_id: UUID,
    ) -> None:
        self.state, self.carrier = "shipped", carrier

    @event("Delivered")
    def _delivered(self, order_id: UUID, correlation_id: UUID) -> None:
        self.state = "delivered"

    def refuse(self, problem: str) -> None:
        """The carrier refused it: an exception for a person to resolve, published so that the
        channel and tracking can tell (ShipmentRefused)."""
        if self.state not in OPEN:
            raise IllegalTransition(f"{with_article(self.state)} shipment cannot be refused")
        self._refused(
            problem=problem,
            order_id=self.order_id,
            warehouse=self.warehouse,
            correlation_id=self.correlation_id,
        )

    @event("Refused")
    def _refused(self, problem: str, order_id: UUID, warehouse: str, correlation_id: UUID) -> None:
        self.state, self.problem = "exception", problem

    @event("Failed")
    def _failed(self, problem: str) -> None:
        """Stored by earlier versions, which kept a refusal private; kept for replay."""
        self.state, self.problem = "exception", problem

    def cancel(self) -> bool:
        """Cancelled if it has not left; False once shipped (the order's other parcels go on)."""
        if self.state not in OPEN | {"exception"}:
            return False
        self._cancelled()
        return True

    @event("Cancelled")
    def _cancelled(self) -> None:
        self.state = "cancelled"
