"""The billing application: issues invoices and credit notes with numbers taken from their
series in the same transaction, and finds documents by number and by order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import MutableOrImmutableAggregate

from orderflow.billing.domain import (
    Account,
    Document,
    ReturnRequest,
    ReusedKey,
    Series,
    account_id,
    document_id,
    return_id,
    series_id,
)
from orderflow.billing.invoicing import credited_part, document, shipment_lines
from orderflow.billing.payments import PaymentGateway, SandboxGateway
from orderflow.runtime.conflicts import retry_on_conflict
from orderflow.runtime.loading import ServiceApplication
from orderflow.runtime.settings import Settings
from orderflow.runtime.uow import UnitOfWork

PAYMENT_TERM = timedelta(days=14)


class Billing(ServiceApplication):
    # a series grows by one event per document: load it from a recent snapshot
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[UUID]], int]] = {
        Series: 200
    }

    def __init__(
        self, env: Mapping[str, str], settings: Settings, gateway: PaymentGateway | None = None
    ) -> None:
        super().__init__(env=dict(env))
        self.settings = settings
        self.gateway: PaymentGateway = gateway or SandboxGateway()

    def document(self, number: str) -> Document | None:
        try:
            found: Document = self.repository.get(document_id(number))
        except AggregateNotFoundError:
            return None
        return found

    def credit(
        self, number: str, quantities: dict[str, int], reason: str, idempotency_key: str
    ) -> Document:
        """A return: a credit note for `quantities` of invoice `number`, once per
        Idempotency-Key (a retry of the same return gets the same credit note). The refunds
        worker refunds the note once it is committed."""
        request = json.dumps([number, sorted(quantities.items()), reason])

        def attempt() -> Document:
            uow = UnitOfWork(self)
            earlier = uow.find(return_id(idempotency_key))
            if earlier is not None:
                return _earlier_answer(uow, earlier, request, idempotency_key)
            invoice: Document = uow.get(document_id(number))
            account: Account = uow.get(account_id(invoice.order_id))
            note = issue_credit_note(
                uow, invoice, quantities, reason, datetime.now(UTC).date(), account.payment_id
            )
            uow.add(ReturnRequest(return_id(idempotency_key), request, note.number))
            uow.commit([])
            return note

        return retry_on_conflict(attempt)

    def account(self, order_id: UUID) -> Account | None:
        try:
            found: Account = self.repository.get(account_id(order_id))
        except AggregateNotFoundError:
            return None
        return found


def _earlier_answer(uow: UnitOfWork, earlier: ReturnRequest, request: str, key: str) -> Document:
    if earlier.request != request:
        raise ReusedKey(f"Idempotency-Key {key!r} was used for another return")
    note: Document = uow.get(document_id(earlier.credit_note))
    return note


def take_number(uow: UnitOfWork, prefix: str, year: int) -> str:
    series = uow.find(series_id(prefix, year))
    if series is None:
        series = Series(id=series_id(prefix, year), prefix=prefix, year=year)
        uow.add(series)
    number: str = series.take()
    return number


def issue_invoice(
    uow: UnitOfWork,
    account: Account,
    shipment_id: UUID,
    shipped: list[tuple[str, int]],
    on: date,
    caused_by: UUID,
) -> Document:
    assert account.order is not None
    assert account.correlation_id is not None
    order = account.order
    lines = shipment_lines(order, shipped, with_shipping=not account.invoices)
    body = document(lines, order["shipping_fee"]["currency"])
    number = take_number(uow, "INV", on.year)
    body |= {
        "shipment_id": str(shipment_id),
        "issued_on": on.isoformat(),
        "due_on": (on + PAYMENT_TERM).isoformat(),
    }
    invoice = Document(
        id=document_id(number),
        kind="invoice",
        number=number,
        order_id=account.order_id,
        body=body,
        buyer=_buyer(order),
        correlation_id=account.correlation_id,
        caused_by=caused_by,
    )
    account.invoiced(shipment_id, number)
    uow.add(invoice)
    return invoice


def issue_credit_note(
    uow: UnitOfWork,
    invoice: Document,
    quantities: dict[str, int],
    reason: str,
    on: date,
    refund_to: UUID | None,
) -> Document:
    """Credit the given quantities of an invoice's lines (a return), at their invoiced amounts
    per unit; a line's credits add up to the line to the cent, so a full credit, in one note or
    in many, mirrors the invoice. The note is refunded to payment `refund_to` after commit."""
    before = dict(invoice.credited)
    number = take_number(uow, "CN", on.year)
    invoice.credit(quantities, number)
    lines = []
    for line in invoice.body["lines"]:
        quantity = quantities.get(line["description"], 0)
        if quantity:
            lines.append(credited_part(line, before.get(line["description"], 0), quantity))
    body = document(lines, invoice.body["gross"]["currency"])
    body |= {"invoice_number": invoice.number, "reason": reason, "issued_on": on.isoformat()}
    note = Document(
        id=document_id(number),
        kind="credit_note",
        number=number,
        order_id=invoice.order_id,
        body=body,
        buyer=invoice.buyer,
        correlation_id=invoice.correlation_id,
        caused_by=None,
        refund_to=refund_to,
    )
    uow.add(note)
    return note


def _buyer(order: dict[str, Any]) -> dict[str, Any]:
    return {"customer": order["customer"], "address": order["shipping_address"]}
