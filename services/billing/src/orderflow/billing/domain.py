"""Billing's aggregates: what billing knows of an order and its payment, the invoice number
series, invoices and credit notes. No I/O; refusals are `IllegalTransition`.

An order's events reach billing through three topics in any order (a StockReserved may come
before its OrderPlaced), so `Account` records facts and says when the payment is due for
authorisation: once the order is known and its stock reserved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class IllegalTransition(Exception):
    """The account or document cannot take this event or command."""


class NotOnTheInvoice(ValueError):
    """A credit names a line the invoice does not have: a mistake in the request, not a state
    the invoice is in."""


def account_id(order_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:billing-account/{order_id}")


def series_id(prefix: str, year: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:series/{prefix}-{year}")


def document_id(number: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:document/{number}")


def return_id(idempotency_key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderflow:billing-return/{idempotency_key}")


class Account(Aggregate):
    """One order as billing sees it: its content, its reservation, its payment, its invoices."""

    @event("Opened")
    def __init__(self, id: UUID, order_id: UUID) -> None:
        self.order_id = order_id
        self.order: dict[str, Any] | None = None
        self.correlation_id: UUID | None = None
        self.reserved = False
        # none → authorized | declined | withdrawn; authorized → voided | captured
        self.payment = "none"
        self.payment_id: UUID | None = None
        self.cancelled = False
        self.invoices: dict[str, str] = {}  # shipment id → invoice number

    def due_for_authorisation(self) -> bool:
        return self.order is not None and self.reserved and self.payment == "none"

    def place(self, order: dict[str, Any], correlation_id: UUID) -> None:
        if self.order is None:
            self._placed(order=order, correlation_id=correlation_id)

    @event("Placed")
    def _placed(self, order: dict[str, Any], correlation_id: UUID) -> None:
        self.order, self.correlation_id = order, correlation_id

    def reserve(self) -> None:
        if not self.reserved:
            self._reserved()

    @event("Reserved")
    def _reserved(self) -> None:
        self.reserved = True

    def authorized(self, payment_id: UUID, caused_by: UUID) -> None:
        self._require_payment("none")
        self._authorized(
            payment_id=payment_id,
            amount=self.total,
            caused_by=caused_by,
            correlation_id=self._story(),
            order_id=self.order_id,
        )

    @event("PaymentAuthorized")
    def _authorized(
        self,
        payment_id: UUID,
        amount: dict[str, str],
        caused_by: UUID,
        correlation_id: UUID,
        order_id: UUID,
    ) -> None:
        self.payment, self.payment_id = "authorized", payment_id

    def declined(self, payment_id: UUID, reason: str, caused_by: UUID) -> None:
        self._require_payment("none")
        self._declined(
            payment_id=payment_id,
            amount=self.total,
            reason=reason,
            caused_by=caused_by,
            correlation_id=self._story(),
            order_id=self.order_id,
        )

    @event("PaymentDeclined")
    def _declined(
        self,
        payment_id: UUID,
        amount: dict[str, str],
        reason: str,
        caused_by: UUID,
        correlation_id: UUID,
        order_id: UUID,
    ) -> None:
        self.payment, self.payment_id = "declined", payment_id

    def cancel(self) -> None:
        """The order was cancelled: it is not authorised from now on."""
        if not self.cancelled:
            self._cancelled()

    @event("Cancelled")
    def _cancelled(self) -> None:
        self.cancelled = True

    def withdrawn(self) -> None:
        """Cancelled when due for authorisation: not authorised from now on, and whatever an
        earlier attempt, lost in a crash, may have authorised was voided by its key."""
        self._require_payment("none")
        self._withdrawn()

    @event("AuthorisationWithdrawn")
    def _withdrawn(self) -> None:
        self.payment = "withdrawn"

    def voided(self) -> None:
        self._require_payment("authorized")
        self._voided()

    @event("Voided")
    def _voided(self) -> None:
        self.payment = "voided"

    def invoiced(self, shipment_id: UUID, number: str) -> None:
        if self.payment != "authorized":
            raise IllegalTransition(f"cannot invoice a shipment of a {self.payment} payment")
        if str(shipment_id) in self.invoices:
            raise IllegalTransition(f"shipment {shipment_id} is already invoiced")
        self._invoiced(shipment_id=str(shipment_id), number=number)

    @event("Invoiced")
    def _invoiced(self, shipment_id: str, number: str) -> None:
        self.invoices[shipment_id] = number

    @property
    def total(self) -> dict[str, str]:
        assert self.order is not None, "the order is known before its payment"
        return dict(self.order["total"])

    def _story(self) -> UUID:
        assert self.correlation_id is not None, "the order is known before its payment"
        return self.correlation_id

    def _require_payment(self, state: str) -> None:
        if self.payment != state:
            raise IllegalTransition(f"the payment is {self.payment}, not {state}")


class Series(Aggregate):
    """A gap-free number series (INV-2026, CN-2026). A number is taken in the transaction that
    stores its document, and two takers of the same number conflict on this aggregate's
    version, so a number is never skipped, reused or taken out of order."""

    @event("Opened")
    def __init__(self, id: UUID, prefix: str, year: int) -> None:
        self.prefix, self.year, self.last = prefix, year, 0

    def take(self) -> str:
        self._took(number=self.last + 1)
        return f"{self.prefix}-{self.year}-{self.last:06d}"

    @event("Took")
    def _took(self, number: int) -> None:
        self.last = number


class Document(Aggregate):
    """An issued invoice or credit note: immutable once issued, except for what is credited.
    A credit note names the payment it is refunded to; the refunds worker calls the provider
    once the note is committed (documents issued before that field existed have None)."""

    @event("Issued")
    def __init__(
        self,
        id: UUID,
        kind: str,  # "invoice" | "credit_note"
        number: str,
        order_id: UUID,
        body: dict[str, Any],  # lines, taxes, net, tax, gross; dates; shipment or invoice ref
        buyer: dict[str, Any],
        correlation_id: UUID,
        caused_by: UUID | None,
        refund_to: UUID | None = None,
    ) -> None:
        self.kind, self.number, self.order_id = kind, number, order_id
        self.body, self.buyer, self.correlation_id = body, buyer, correlation_id
        self.refund_to = refund_to
        self.credited: dict[str, int] = {}  # description → quantity credited
        self.credit_notes: list[str] = []  # an invoice's credit notes (since they were recorded)
        self.refunded_at: str | None = None  # a credit note's refund, once the provider made it
        self.refund_refused: str | None = None  # why the provider refused it for good

    @property
    def gross(self) -> tuple[Decimal, str]:
        """What the document charges or gives back: amount and currency."""
        gross = self.body["gross"]
        return Decimal(gross["amount"]), gross["currency"]

    def credit(self, quantities: dict[str, int], credit_note: str) -> None:
        """Record a credit note's lines; never more than was invoiced."""
        invoiced = {line["description"]: line["quantity"] for line in self.body["lines"]}
        unknown = sorted(set(quantities) - set(invoiced))
        if unknown:
            raise NotOnTheInvoice(
                f"not lines of invoice {self.number}: {', '.join(unknown)}"
                f" (its lines: {', '.join(invoiced)})"
            )
        for description, quantity in quantities.items():
            left = invoiced.get(description, 0) - self.credited.get(description, 0)
            if quantity > left:
                raise IllegalTransition(f"{description}: {left} left to credit, not {quantity}")
        self._credited(quantities=quantities, credit_note=credit_note)

    @event("Credited")
    def _credited(self, quantities: dict[str, int], credit_note: str | None = None) -> None:
        for description, quantity in quantities.items():
            self.credited[description] = self.credited.get(description, 0) + quantity
        if credit_note is not None:  # None in events from before notes were recorded
            self.credit_notes.append(credit_note)

    def refunded(self, at: str) -> None:
        """The provider refunded this credit note (once: a second word of it changes nothing)."""
        if self.kind != "credit_note":
            raise IllegalTransition(f"{self.number} is an invoice: only credit notes are refunded")
        if self.refunded_at is None:
            self._refunded(at=at)

    @event("Refunded")
    def _refunded(self, at: str) -> None:
        self.refunded_at = at

    def refund_failed(self, reason: str, at: str) -> None:
        """The provider refused this credit note's refund for good: it is not asked again."""
        if self.refunded_at is None and self.refund_refused is None:
            self._refund_refused(reason=reason, at=at)

    @event("RefundRefused")
    def _refund_refused(self, reason: str, at: str) -> None:
        self.refund_refused = reason

    @property
    def refund_settled(self) -> bool:
        """Whether the refund was made or refused for good: either way, not to be asked again."""
        return self.refunded_at is not None or self.refund_refused is not None


class ReturnRequest(Aggregate):
    """One return as its client asked for it under an Idempotency-Key, and the credit note it
    got: a retry of the same request gets that note again and refunds nothing more."""

    @event("Received")
    def __init__(self, id: UUID, request: str, credit_note: str) -> None:
        self.request, self.credit_note = request, credit_note


class ReusedKey(IllegalTransition):
    """An Idempotency-Key already used for another return."""
