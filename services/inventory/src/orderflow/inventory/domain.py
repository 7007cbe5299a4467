"""Inventory's aggregates: a SKU's stock in every warehouse, and an order's reservation.

`SkuStock` keeps on-hand units per warehouse and, per open order, what it holds there: units
reserved from stock on hand, and units backordered against stock still to come. So
available = on hand - reserved - backordered, negative only by declared backorders, and
reserved is by construction the sum of the open reservations. A receipt fills the
warehouse's backorders first in, first out by order time, inside the Received event itself,
so a replay reaches the same state. No I/O; refusals are `IllegalTransition`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class IllegalTransition(Exception):
    """The stock or the reservation cannot take this event or command."""


def sku_id(sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:sku/{sku}")


def reservation_id(order_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:reservation/{order_id}")


class StoppedOrder(Aggregate):
    """An order that fulfillment stopped before inventory saw it placed: inventory reads the
    orders topic and fulfillment's apart, so the answer to a cancellation can come first. The
    order's OrderPlaced, when it comes, holds nothing. Private to inventory. It takes the id
    the order's Reservation would have: should two instances take the two topics' partitions of
    the order, creating both is a version conflict, and the loser's batch sees the winner."""

    @event("Recorded")
    def __init__(self, id: UUID, order_id: UUID) -> None:
        self.order_id = order_id


class SkuStock(Aggregate):
    class_version = 3  # 2: `totals`, kept with the holds; 3: `receipts` (see the upcasts)

    @event("Registered")
    def __init__(self, id: UUID, sku: str, threshold: int, allow_backorder: bool) -> None:
        self.sku, self.threshold, self.allow_backorder = sku, threshold, allow_backorder
        self.on_hand: dict[str, int] = {}
        # order id → warehouse → [reserved, backordered, order time as ISO text]
        self.holds: dict[str, dict[str, list[Any]]] = {}
        # warehouse → [reserved, backordered]: the holds' sums, kept as they change, so that an
        # order for a SKU that many open orders hold does not add them all up again
        self.totals: dict[str, list[int]] = {}
        self.references: set[str] = set()
        # reference → what it received ("10 into berlin"), to tell a resent receipt from a
        # different one that reuses its reference
        self.receipts: dict[str, str] = {}
        self.low: set[str] = set()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before the totals were kept: sum them from its holds."""
        state["totals"] = _sums(state["holds"])

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot taken before receipts were kept: what its references received is not
        known, so a receipt resent under one of them is taken as the same one, as it was."""
        state["receipts"] = {}

    # Queries ---------------------------------------------------------------------------------

    def warehouses(self) -> set[str]:
        return set(self.on_hand) | {wh for held in self.holds.values() for wh in held}

    def reserved(self, warehouse: str) -> int:
        return self.totals.get(warehouse, _NONE)[0]

    def backordered(self, warehouse: str) -> int:
        return self.totals.get(warehouse, _NONE)[1]

    def available(self, warehouse: str) -> int:
        return (
            self.on_hand.get(warehouse, 0) - self.reserved(warehouse) - self.backordered(warehouse)
        )

    def backorders(self, warehouse: str) -> dict[str, int]:
        """Order id → units it still waits for here."""
        return {
            order_id: held[warehouse][1]
            for order_id, held in self.holds.items()
            if warehouse in held and held[warehouse][1] > 0
        }

    def free(self, warehouse: str) -> int:
        """Units that a new order can reserve here."""
        return max(0, self.available(warehouse))

    # Commands --------------------------------------------------------------------------------

    def receive(self, warehouse: str, quantity: int, reference: str | None) -> bool:
        """Receive stock; False when this reference was already received (a resent receipt).
        Another receipt under a used reference is refused: taken as a resend, it was lost."""
        if reference is not None and reference in self.references:
            earlier, this = self.receipts.get(reference), _receipt(warehouse, quantity)
            if earlier is not None and earlier != this:
                raise IllegalTransition(
                    f"reference {reference!r} received {earlier}, not {this}: a different"
                    " receipt needs a reference of its own"
                )
            return False
        self._received(sku=self.sku, warehouse=warehouse, quantity=quantity, reference=reference)
        self._watch(warehouse)
        return True

    def hold(
        self, order_id: UUID, warehouse: str, reserved: int, backordered: int, at: str
    ) -> None:
        if reserved > self.free(warehouse):
            raise IllegalTransition(f"{self.sku} has {self.free(warehouse)} free in {warehouse}")
        if backordered and not self.allow_backorder:
            raise IllegalTransition(f"{self.sku} does not allow backorders")
        self._held(
            order_id=str(order_id),
            warehouse=warehouse,
            reserved=reserved,
            backordered=backordered,
            at=at,
        )
        self._watch(warehouse)

    def release(self, order_id: UUID) -> None:
        held = self.holds.get(str(order_id))
        if held:
            self._released(order_id=str(order_id))
            for warehouse in held:
                self._watch(warehouse)

    def ship(self, order_id: UUID, warehouse: str, quantity: int) -> None:
        held = self.holds.get(str(order_id), {}).get(warehouse)
        if held is None or held[0] < quantity:
            raise IllegalTransition(
                f"order {order_id} holds {held[0] if held else 0} of {self.sku} in {warehouse}, "
                f"cannot ship {quantity}"
            )
        self._shipped(order_id=str(order_id), warehouse=warehouse, quantity=quantity)
        self._watch(warehouse)

    def adjust(self, warehouse: str, delta: int, reason: str) -> None:
        """A cycle count's correction; it cannot take away units that orders hold."""
        after = self.on_hand.get(warehouse, 0) + delta
        if after < self.reserved(warehouse):
            raise IllegalTransition(
                f"{self.sku} in {warehouse}: {self.reserved(warehouse)} units are reserved, "
                f"on hand cannot become {after}"
            )
        self._adjusted(warehouse=warehouse, delta=delta, reason=reason)
        self._watch(warehouse)

    def set_policy(self, threshold: int, allow_backorder: bool) -> None:
        if not allow_backorder and any(self.backordered(wh) for wh in self.warehouses()):
            raise IllegalTransition(f"{self.sku} has open backorders")
        self._policy_set(threshold=threshold, allow_backorder=allow_backorder)
        for warehouse in self.warehouses():
            self._watch(warehouse)

    # Events ----------------------------------------------------------------------------------

    @event("Received")
    def _received(self, sku: str, warehouse: str, quantity: int, reference: str | None) -> None:
        self.on_hand[warehouse] = self.on_hand.get(warehouse, 0) + quantity
        if reference is not None:
            self.references.add(reference)
            self.receipts[reference] = _receipt(warehouse, quantity)
        self._fill_backorders(warehouse)

    @event("Held")
    def _held(
        self, order_id: str, warehouse: str, reserved: int, backordered: int, at: str
    ) -> None:
        earlier = self.holds.setdefault(order_id, {}).get(warehouse)
        if earlier is not None:
            self._count(warehouse, -earlier[0], -earlier[1])
        self.holds[order_id][warehouse] = [reserved, backordered, at]
        self._count(warehouse, reserved, backordered)

    @event("Released")
    def _released(self, order_id: str) -> None:
        for warehouse, (reserved, backordered, _) in self.holds.pop(order_id).items():
            self._count(warehouse, -reserved, -backordered)

    @event("Shipped")
    def _shipped(self, order_id: str, warehouse: str, quantity: int) -> None:
        self.on_hand[warehouse] -= quantity
        held = self.holds[order_id][warehouse]
        held[0] -= quantity
        self._count(warehouse, -quantity, 0)
        if held[0] == 0 and held[1] == 0:
            del self.holds[order_id][warehouse]
        if not self.holds[order_id]:
            del self.holds[order_id]

    @event("Adjusted")
    def _adjusted(self, warehouse: str, delta: int, reason: str) -> None:
        self.on_hand[warehouse] = self.on_hand.get(warehouse, 0) + delta
        self._fill_backorders(warehouse)

    @event("PolicySet")
    def _policy_set(self, threshold: int, allow_backorder: bool) -> None:
        self.threshold, self.allow_backorder = threshold, allow_backorder

    @event("LowStockDetected")
    def _went_low(self, sku: str, warehouse: str, available: int, threshold: int) -> None:
        self.low.add(warehouse)

    @event("Restocked")
    def _restocked(self, warehouse: str) -> None:
        self.low.discard(warehouse)

    # Rules -----------------------------------------------------------------------------------

    def _fill_backorders(self, warehouse: str) -> None:
        """Turn backordered units into reserved ones, oldest order first."""
        waiting = sorted(
            (held[warehouse][2], order_id)
            for order_id, held in self.holds.items()
            if warehouse in held and held[warehouse][1] > 0
        )
        for _, order_id in waiting:
            spare = self.on_hand[warehouse] - self.reserved(warehouse)
            held = self.holds[order_id][warehouse]
            take = min(spare, held[1])
            if take <= 0:
                return
            held[0], held[1] = held[0] + take, held[1] - take
            self._count(warehouse, take, -take)

    def _count(self, warehouse: str, reserved: int, backordered: int) -> None:
        _add(self.totals, warehouse, reserved, backordered)

    def _watch(self, warehouse: str) -> None:
        """Low stock is announced once per crossing below the threshold, not once per order."""
        available = self.available(warehouse)
        if available < self.threshold and warehouse not in self.low:
            self._went_low(
                sku=self.sku,
                warehouse=warehouse,
                available=max(0, available),
                threshold=self.threshold,
            )
        elif available >= self.threshold and warehouse in self.low:
            self._restocked(warehouse=warehouse)


_NONE = (0, 0)


def _sums(holds: dict[str, dict[str, list[Any]]]) -> dict[str, list[int]]:
    """Warehouse → [reserved, backordered], added up over every order's holds."""
    sums: dict[str, list[int]] = {}
    for by_warehouse in holds.values():
        for warehouse, (reserved, backordered, _) in by_warehouse.items():
            _add(sums, warehouse, reserved, backordered)
    return sums


def _add(totals: dict[str, list[int]], warehouse: str, reserved: int, backordered: int) -> None:
    counted = totals.setdefault(warehouse, [0, 0])
    counted[0] += reserved
    counted[1] += backordered


class Reservation(Aggregate):
    """What one order holds (or why it could not): held → authorized → committed, or released."""

    @event("Made")
    def __init__(
        self,
        id: UUID,
        order_id: UUID,
        allocations: list[dict[str, Any]],
        short_lines: list[dict[str, Any]],
        expires_at: datetime,
        correlation_id: UUID,
        caused_by: UUID,
    ) -> None:
        self.order_id, self.allocations, self.short_lines = order_id, allocations, short_lines
        self.expires_at, self.correlation_id = expires_at, correlation_id
        self.state = "failed" if short_lines else "held"
        self.shipped: dict[str, int] = {}  # "warehouse/sku" → units shipped
        self.fills = 0  # backorders filled so far, each published as its own BackorderFilled

    def authorize(self, caused_by: UUID) -> None:
        """Topics are not consumed in step, so the payment can arrive after the reservation was
        released (the order was cancelled, and billing voids what it authorised for a cancelled
        order) or committed (every line shipped): nothing is left to hold for it either way."""
        if self.state in ("released", "committed"):
            return
        if self.state != "held":
            raise IllegalTransition(f"a {self.state} reservation cannot take a payment")
        self._authorized(caused_by=caused_by)

    @event("Authorized")
    def _authorized(self, caused_by: UUID) -> None:
        self.state = "authorized"

    def release(self, reason: str, caused_by: UUID | None) -> bool:
        """Release what the order still holds (all of it, or what did not ship before
        fulfillment stopped the order); False when nothing is held any more."""
        if self.state not in ("held", "authorized"):
            return False
        self._released(
            order_id=self.order_id,
            allocations=self.unshipped(),
            reason=reason,
            caused_by=caused_by,
            correlation_id=self.correlation_id,
        )
        return True

    def unshipped(self) -> list[dict[str, Any]]:
        """The allocations less what has shipped, from stock on hand first."""
        left = dict(self.shipped)
        rest = []
        for allocation in sorted(self.allocations, key=lambda a: bool(a.get("backordered"))):
            key = f"{allocation['warehouse']}/{allocation['sku']}"
            taken = min(left.get(key, 0), allocation["quantity"])
            left[key] = left.get(key, 0) - taken
            if allocation["quantity"] > taken:
                rest.append({**allocation, "quantity": allocation["quantity"] - taken})
        return rest

    def expire(self, now: datetime) -> bool:
        """Release an unpaid reservation past its time; never one whose payment was authorised."""
        if self.state != "held" or self.shipped or now < self.expires_at:
            return False
        return self.release("expired", None)

    @event("Released")
    def _released(
        self,
        order_id: UUID,
        allocations: list[dict[str, Any]],
        reason: str,
        caused_by: UUID | None,
        correlation_id: UUID,
    ) -> None:
        self.state = "released"

    def fill(self, warehouse: str, sku: str, quantity: int, caused_by: UUID | None) -> None:
        """Units of a backordered line are now reserved from stock on hand: they can ship."""
        if self.state not in ("held", "authorized"):
            raise IllegalTransition(f"a {self.state} reservation has no backorder to fill")
        self._filled(
            order_id=self.order_id,
            fill=self.fills + 1,
            allocations=[{"warehouse": warehouse, "sku": sku, "quantity": quantity}],
            caused_by=caused_by,
            correlation_id=self.correlation_id,
        )

    @event("BackorderFilled")
    def _filled(
        self,
        order_id: UUID,
        fill: int,
        allocations: list[dict[str, Any]],
        caused_by: UUID | None,
        correlation_id: UUID,
    ) -> None:
        self.fills = fill

    def ship(self, warehouse: str, sku: str, quantity: int, caused_by: UUID) -> None:
        if self.state not in ("authorized", "held"):
            raise IllegalTransition(f"a {self.state} reservation cannot ship")
        self._shipped(warehouse=warehouse, sku=sku, quantity=quantity, caused_by=caused_by)

    @event("Shipped")
    def _shipped(self, warehouse: str, sku: str, quantity: int, caused_by: UUID) -> None:
        key = f"{warehouse}/{sku}"
        self.shipped[key] = self.shipped.get(key, 0) + quantity
        if sum(self.shipped.values()) >= sum(a["quantity"] for a in self.allocations):
            self.state = "committed"


def _receipt(warehouse: str, quantity: int) -> str:
    return f"{quantity} into {warehouse}"
