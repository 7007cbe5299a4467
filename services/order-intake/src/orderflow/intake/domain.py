"""The Order aggregate: one order's whole process, from placement to completion, rejection or
cancellation. No I/O; every change is an event, every refusal an `IllegalTransition` that says why.

Events from other services reach an order through different topics, so they can arrive in any
order (a Shipped before the Invoiced of an earlier shipment, a Delivered before its Invoiced).
The order therefore records facts, and its status is derived from them: the furthest stage of
the lifecycle that the facts support. A parcel that left as the order was cancelled is
recorded on the cancelled order; what no order of arrival explains (a shipment of a rejected
order, a second reservation) is refused."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Status(StrEnum):
    PLACED = "placed"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_AUTHORIZED = "payment_authorized"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


ENDED = frozenset({Status.COMPLETED, Status.REJECTED, Status.CANCELLED})


class IllegalTransition(Exception):
    """The order's state cannot take this event or command."""


def order_id_for(channel: str, external_id: str) -> UUID:
    """One order per (channel, external id): a second placement is a version conflict."""
    return uuid5(NAMESPACE_URL, f"orderflow:order/{channel}/{external_id}")


class Order(Aggregate):
    @event("Placed")
    def __init__(
        self,
        id: UUID,
        content: dict[str, Any],
        total: dict[str, str],
        payment_token: str,
        correlation_id: UUID,
        request_hash: str,
    ) -> None:
        self.content, self.total, self.payment_token = content, total, payment_token
        self.correlation_id, self.request_hash = correlation_id, request_hash
        self.ordered: Counter[str] = Counter()
        for line in content["lines"]:
            self.ordered[line["sku"]] += line["quantity"]
        self.reservation_id: UUID | None = None
        self.payment_id: UUID | None = None
        self.shipments: dict[str, dict[str, int]] = {}  # shipment id → SKU → quantity shipped
        self.invoices: dict[str, str] = {}  # invoice number → shipment id
        self.delivered: set[str] = set()
        self.ended: Status | None = None
        self.reasons: list[dict[str, str]] = []

    @property
    def channel(self) -> str:
        return str(self.content["channel"])

    @property
    def status(self) -> Status:
        if self.ended is not None:
            return self.ended
        if self.shipments and self._fully_shipped():
            if not self._all_invoiced():
                return Status.SHIPPED
            return Status.DELIVERED if self._all_delivered() else Status.INVOICED
        if self.shipments:
            return Status.PARTIALLY_SHIPPED
        if self.payment_id is not None:
            return Status.PAYMENT_AUTHORIZED
        return Status.STOCK_RESERVED if self.reservation_id is not None else Status.PLACED

    # Reactions to other services' events ------------------------------------------------------

    def reserve(self, reservation_id: UUID, caused_by: UUID) -> None:
        """Topics are not consumed in step, so the reservation can arrive after the order has
        ended: a completed order records it (it shipped, so stock was reserved); a cancelled
        one has nothing to do (inventory releases what it holds for a cancelled order)."""
        if self.ended is Status.CANCELLED:
            return
        if self.ended is not Status.COMPLETED:
            self._require_open("a reservation")
        if self.reservation_id is not None:
            raise IllegalTransition(f"order already holds reservation {self.reservation_id}")
        self._reserved(reservation_id=reservation_id, caused_by=caused_by)

    @event("StockReserved")
    def _reserved(self, reservation_id: UUID, caused_by: UUID) -> None:
        self.reservation_id = reservation_id

    def reject_for_stock(self, short: list[dict[str, str]], caused_by: UUID) -> None:
        if self.status is not Status.PLACED:
            raise IllegalTransition(f"a {self.status} order cannot fail its reservation")
        self._rejected(
            channel=self.channel,
            external_id=self.content["external_id"],
            reasons=short,
            caused_by=caused_by,
            correlation_id=self.correlation_id,
        )

    @event("Rejected")
    def _rejected(
        self,
        channel: str,
        external_id: str,
        reasons: list[dict[str, str]],
        caused_by: UUID,
        correlation_id: UUID,
    ) -> None:
        self.ended, self.reasons = Status.REJECTED, reasons

    def authorize(self, payment_id: UUID, caused_by: UUID) -> None:
        """A payment can cross a cancellation (billing authorised before it heard of it): a
        cancelled order has nothing to do, as billing voids what it authorised for one."""
        if self.ended is Status.CANCELLED:
            return
        self._require_open("a payment authorisation")
        if self.payment_id is not None:
            raise IllegalTransition(f"payment {self.payment_id} was already authorised")
        self._authorized(payment_id=payment_id, caused_by=caused_by)

    @event("PaymentAuthorized")
    def _authorized(self, payment_id: UUID, caused_by: UUID) -> None:
        self.payment_id = payment_id

    def decline(self, detail: str, caused_by: UUID) -> None:
        """Compensation: a declined payment cancels the order (inventory then releases); one
        that crossed a cancellation finds the order already cancelled, as it would have left it."""
        if self.ended is Status.CANCELLED:
            return
        self._require_cancellable("a payment decline")
        self._cancelled("payment_declined", detail, caused_by, self.correlation_id)

    def expire(self, caused_by: UUID) -> None:
        """Compensation: inventory released an unpaid reservation; the order is cancelled. One
        cancelled already (its reservation expired before fulfillment's stop released it) stays
        cancelled for its own reason."""
        if self.ended is Status.CANCELLED:
            return
        if self.payment_id is not None:
            raise IllegalTransition("a reservation of an authorised payment cannot expire")
        self._require_cancellable("a reservation expiry")
        self._cancelled("reservation_expired", None, caused_by, self.correlation_id)

    def ship(self, shipment_id: UUID, lines: dict[str, int], caused_by: UUID) -> None:
        """A cancelled order records a parcel that had left before fulfillment heard of the
        cancellation: it went ahead, and is invoiced and delivered like any other."""
        self._require_open_or_cancelled("a shipment")
        if str(shipment_id) in self.shipments:
            raise IllegalTransition(f"shipment {shipment_id} was already recorded")
        shipped = self._shipped_so_far() + Counter(lines)
        over = sorted(sku for sku, quantity in shipped.items() if quantity > self.ordered[sku])
        if over:
            raise IllegalTransition(f"shipments exceed the ordered quantity of {', '.join(over)}")
        self._recorded_shipment(shipment_id=str(shipment_id), lines=lines, caused_by=caused_by)
        self._complete_if_done(caused_by)

    @event("Shipped")
    def _recorded_shipment(self, shipment_id: str, lines: dict[str, int], caused_by: UUID) -> None:
        self.shipments[shipment_id] = lines

    def invoice(self, invoice_number: str, shipment_id: UUID, caused_by: UUID) -> None:
        self._require_open_or_cancelled("an invoice")
        if invoice_number in self.invoices:
            raise IllegalTransition(f"invoice {invoice_number} was already recorded")
        self._invoiced(
            invoice_number=invoice_number, shipment_id=str(shipment_id), caused_by=caused_by
        )
        self._complete_if_done(caused_by)

    @event("Invoiced")
    def _invoiced(self, invoice_number: str, shipment_id: str, caused_by: UUID) -> None:
        self.invoices[invoice_number] = shipment_id

    def deliver(self, shipment_id: UUID, caused_by: UUID) -> None:
        self._require_open_or_cancelled("a delivery")
        if str(shipment_id) in self.delivered:
            raise IllegalTransition(f"shipment {shipment_id} was already delivered")
        self._delivered(shipment_id=str(shipment_id), caused_by=caused_by)
        self._complete_if_done(caused_by)

    @event("Delivered")
    def _delivered(self, shipment_id: str, caused_by: UUID) -> None:
        self.delivered.add(shipment_id)

    # Commands from the channel ----------------------------------------------------------------

    def cancel(self, detail: str | None, caused_by: UUID | None = None) -> None:
        """Until intake hears of a shipment. A parcel may still have left just before
        fulfillment heard of the cancellation: fulfillment says so, and billing credits it."""
        self._require_cancellable("a cancellation")
        self._cancelled("customer_request", detail, caused_by, self.correlation_id)

    @event("Cancelled")
    def _cancelled(
        self, reason: str, detail: str | None, caused_by: UUID | None, correlation_id: UUID
    ) -> None:
        self.ended = Status.CANCELLED
        self.reasons = [{"code": reason, "message": detail or reason.replace("_", " ")}]

    # Guards and derived facts -------------------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self.ended is not None:
            raise IllegalTransition(f"a {self.ended} order cannot take {what}")

    def _require_open_or_cancelled(self, what: str) -> None:
        if self.ended is not Status.CANCELLED:
            self._require_open(what)

    def _require_cancellable(self, what: str) -> None:
        self._require_open(what)
        if self.shipments:
            raise IllegalTransition(f"{what} is too late: the order has begun shipping")

    def _complete_if_done(self, caused_by: UUID) -> None:
        if self.status is Status.DELIVERED:
            self._completed(caused_by=caused_by, correlation_id=self.correlation_id)

    @event("Completed")
    def _completed(self, caused_by: UUID, correlation_id: UUID) -> None:
        self.ended = Status.COMPLETED

    def _shipped_so_far(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for lines in self.shipments.values():
            total.update(lines)
        return total

    def _fully_shipped(self) -> bool:
        return self._shipped_so_far() == self.ordered

    def _all_invoiced(self) -> bool:
        return set(self.shipments) <= set(self.invoices.values())

    def _all_delivered(self) -> bool:
        return set(self.shipments) <= self.delivered


class RejectedSubmission(Aggregate):
    """A channel-topic submission that broke the contract: not an order, only its rejection.
    Keyed by the submission's own event id, so the channel can fix it and resend under the
    same external id."""

    @event("Recorded")
    def __init__(
        self,
        id: UUID,
        channel: str,
        external_id: str,
        reasons: list[dict[str, str]],
        correlation_id: UUID,
    ) -> None:
        self.channel, self.external_id, self.reasons = channel, external_id, reasons
        self.correlation_id = correlation_id


def rejection_id_for(channel: str, external_id: str, submission_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:rejection/{channel}/{external_id}/{submission_id}")


class IdempotentRequest(Aggregate):
    """A channel's request under one Idempotency-Key: its fingerprint and the answer it got, so a
    retry gets the same answer and a different request under the same key is refused."""

    @event("Answered")
    def __init__(
        self, id: UUID, request_hash: str, status_code: int, response: dict[str, Any]
    ) -> None:
        self.request_hash, self.status_code, self.response = request_hash, status_code, response


def idempotency_id_for(channel: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:idempotency/{channel}/{key}")
