"""Returns credited piece by piece, on both stores: each credit note's tax is the rounding rule
applied to everything credited so far, less what the earlier notes took, so the notes of a fully
returned invoice add up to it to the cent, tax included."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from orderflow.billing.application import Billing, issue_credit_note
from orderflow.billing.domain import Document, document_id
from orderflow.billing.invoicing import document, line
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.runtime.uow import UnitOfWork

pytestmark = pytest.mark.integration


def test_a_line_returned_unit_by_unit_credits_exactly_the_tax_invoiced(
    store: Store, store_settings: Settings
) -> None:
    # given an invoice for three items at 0.05 under 19 % tax: 0.02 tax in all, though each
    # unit on its own would round to 0.01
    app = Billing(store.env, store_settings)
    invoice = issued(app, line("SKU-1", "SKU-1", 3, Decimal("0.15"), Decimal("0.19"), "EUR"))
    assert invoice.body["tax"]["amount"] == "0.02"

    # when the items come back one credit note at a time
    notes = [returned(app, invoice.number, {"SKU-1": 1}) for _ in range(3)]

    # then the notes add up to the invoice, net, tax and gross
    assert [note.body["tax"]["amount"] for note in notes] == ["0.01", "0.01", "0.00"]
    for total in ("net", "tax", "gross"):
        credited = sum(Decimal(note.body[total]["amount"]) for note in notes)
        assert credited == Decimal(invoice.body[total]["amount"]), total
    app.close()


def issued(app: Billing, *lines: dict[str, object]) -> Document:
    number = f"INV-2026-{uuid4().int % 10**6:06d}"
    invoice = Document(
        id=document_id(number),
        kind="invoice",
        number=number,
        order_id=uuid4(),
        body=document(list(lines), "EUR"),
        buyer={},
        correlation_id=uuid4(),
        caused_by=None,
    )
    app.save(invoice)
    return invoice


def returned(app: Billing, number: str, quantities: dict[str, int]) -> Document:
    uow = UnitOfWork(app)
    note = issue_credit_note(
        uow, uow.get(document_id(number)), quantities, "returned", datetime.now(UTC).date(), None
    )
    uow.commit([])
    return note
