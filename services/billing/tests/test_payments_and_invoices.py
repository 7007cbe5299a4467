"""Billing through a real broker, on both stores: authorisation by token (including a gateway
timeout and events arriving out of order), one invoice per shipment adding up to the order
total, a void once fulfillment has stopped a cancelled order (a parcel that crossed the
cancellation is invoiced, then credited and refunded), and the invoice as JSON and as a PDF an
accountant can read."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from uuid import uuid4

import pytest
from billing_data import cancelled, order_placed, shipped, stock_reserved, stopped
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader

from orderflow.billing.api import routes
from orderflow.billing.application import Billing
from orderflow.billing.payments import SandboxGateway
from orderflow.billing.service import SERVICE
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.runtime.testkit import Outbox, Topics, of_type, publish, running
from orderflow.schemas.billing import CreditNoteIssued, Invoiced, PaymentAuthorized, PaymentDeclined
from orderflow.schemas.envelope import Message

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class Harness:
    app: Billing
    topics: Topics
    bootstrap: str

    def send(self, *messages: Message) -> None:
        publish(new_producer(self.bootstrap), self.topics.inbound, messages)

    def published(self, done: Callable[[list[Message]], bool]) -> list[Message]:
        return Outbox(self.bootstrap, self.topics.outbound).wait_for(done)


@pytest.fixture
def billing(
    store: Store, store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> Iterator[Harness]:
    app = Billing(store.env, store_settings, SandboxGateway())
    topics = Topics(unique("in"), unique("billing"), unique("dlq"))
    with running(SERVICE, app, kafka_bootstrap, topics, unique("group")):
        yield Harness(app, topics, kafka_bootstrap)
    app.close()


def test_payments_are_authorised_by_token_whatever_the_order_of_arrival(billing: Harness) -> None:
    ok, declined, slow = uuid4(), uuid4(), uuid4()
    lines = {"SKU-1": 1}
    billing.send(
        stock_reserved(ok, lines),  # before its OrderPlaced: billing waits for both
        order_placed(ok, lines),
        order_placed(declined, lines, token="tok_decline"),
        stock_reserved(declined, lines),
        order_placed(slow, lines, token="tok_timeout"),
        stock_reserved(slow, lines),
    )

    out = billing.published(
        lambda seen: len(of_type(seen, PaymentAuthorized) + of_type(seen, PaymentDeclined)) >= 3
    )

    assert {m.order_id for m in of_type(out, PaymentAuthorized)} == {ok, slow}  # type: ignore[attr-defined]
    [refusal] = of_type(out, PaymentDeclined)
    assert refusal.order_id == declined  # type: ignore[attr-defined]
    assert refusal.reason == "card declined"  # type: ignore[attr-defined]
    gateway = billing.app.gateway
    assert isinstance(gateway, SandboxGateway)
    assert gateway.calls.count(("authorise", f"authorise/{slow}")) == 2, "timed out, then retried"


def test_each_shipment_is_invoiced_and_the_invoices_add_up_to_the_total(
    billing: Harness, store_settings: Settings, unique: Callable[[str], str]
) -> None:
    order, lines = uuid4(), {"SKU-1": 2, "BOOK-1": 1}
    billing.send(order_placed(order, lines), stock_reserved(order, lines))
    billing.published(lambda seen: bool(of_type(seen, PaymentAuthorized)))

    billing.send(shipped(order, {"SKU-1": 2}), shipped(order, {"BOOK-1": 1}))
    out = billing.published(lambda seen: len(of_type(seen, Invoiced)) >= 2)

    invoices = sorted(of_type(out, Invoiced), key=lambda m: m.invoice_number)  # type: ignore[attr-defined]
    numbers = [invoice.invoice_number for invoice in invoices]  # type: ignore[attr-defined]
    year = numbers[0][4:8]
    assert numbers == [f"INV-{year}-000001", f"INV-{year}-000002"]
    assert sum(i.gross.amount for i in invoices) == Decimal("57.38")  # type: ignore[attr-defined]
    with_shipping = [i for i in invoices if any(e.sku is None for e in i.lines)]  # type: ignore[attr-defined]
    assert len(with_shipping) == 1, "the shipping fee is invoiced once"
    gateway = billing.app.gateway
    assert isinstance(gateway, SandboxGateway)
    assert sum(1 for operation, _ in gateway.calls if operation == "capture") == 2

    http = TestClient(api_for(billing.app, store_settings))
    assert [d["number"] for d in http.get(f"/orders/{order}/invoices").json()] == numbers
    first = http.get(f"/invoices/{numbers[0]}").json()
    text = pdf_text(http.get(f"/invoices/{numbers[0]}.pdf").content)
    assert numbers[0] in text
    assert "Ada Lovelace" in text
    assert f"Total gross {first['body']['gross']['amount']} EUR" in text
    for tax in first["body"]["taxes"]:
        assert f"{tax['net']['amount']} EUR {tax['tax']['amount']} EUR" in text

    returns = f"/invoices/{numbers[0]}/credit-notes"
    damaged = {"lines": {"SKU-1": 1}, "reason": "damaged"}
    returned = http.post(returns, json=damaged, headers={"Idempotency-Key": "r-1"})
    retried = http.post(returns, json=damaged, headers={"Idempotency-Key": "r-1"})
    reused = http.post(
        returns, json={**damaged, "reason": "lost"}, headers={"Idempotency-Key": "r-1"}
    )
    too_many = http.post(
        returns, json={"lines": {"SKU-1": 2}, "reason": "again"}, headers={"Idempotency-Key": "r-2"}
    )
    assert returned.status_code == 201
    assert returned.json()["number"] == f"CN-{year}-000001"
    assert (retried.status_code, retried.json()) == (201, returned.json()), "the same note"
    assert reused.status_code == 409
    assert too_many.status_code == 409
    unknown = http.post(
        returns, json={"lines": {"SKU-ZZ": 1}, "reason": "x"}, headers={"Idempotency-Key": "r-3"}
    )
    assert unknown.status_code == 422
    assert "not lines of invoice" in unknown.json()["detail"]
    assert "SKU-ZZ" in unknown.json()["detail"]
    note = returned.json()
    wait_for_call(gateway, ("refund", f"refund/{note['number']}"))
    assert gateway.refunded == {
        f"refund/{note['number']}": Decimal(note["body"]["gross"]["amount"])
    }
    assert http.post(returns, json=damaged).status_code == 422, "a return needs its key"

    # a cancellation that crossed both parcels: what was invoiced is credited and refunded
    billing.send(cancelled(order), stopped(order, went_ahead=[uuid4(), uuid4()]))
    notes = billing.published(lambda seen: len(credit_notes(seen)) >= 3)
    assert sorted(n.credit_note_number for n in credit_notes(notes)) == [
        f"CN-{year}-00000{n}" for n in (1, 2, 3)
    ]
    assert sum(n.gross.amount for n in credit_notes(notes)) == Decimal("57.38")
    for n in (2, 3):
        wait_for_call(gateway, ("refund", f"refund/CN-{year}-00000{n}"))
    assert sum(gateway.refunded.values()) == Decimal("57.38"), "each note refunded, once"


def credit_notes(messages: list[Message]) -> list[CreditNoteIssued]:
    return [m for m in messages if isinstance(m, CreditNoteIssued)]


def api_for(app: Billing, settings: Settings) -> FastAPI:
    api = FastAPI()
    api.include_router(routes(app, settings))
    return api


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_a_cancellation_after_authorisation_voids_it_once_fulfillment_stopped_the_order(
    billing: Harness,
) -> None:
    order, lines = uuid4(), {"SKU-1": 1}
    billing.send(order_placed(order, lines), stock_reserved(order, lines))
    billing.published(lambda seen: bool(of_type(seen, PaymentAuthorized)))

    billing.send(cancelled(order), stopped(order))

    gateway = billing.app.gateway
    assert isinstance(gateway, SandboxGateway)
    wait_for_call(gateway, ("void", f"void/{order}"))


def test_a_parcel_that_left_as_the_order_was_cancelled_is_invoiced_and_the_rest_voided(
    billing: Harness,
) -> None:
    # Given an authorised order of two lines
    order, lines = uuid4(), {"SKU-1": 2, "BOOK-1": 1}
    billing.send(order_placed(order, lines), stock_reserved(order, lines))
    billing.published(lambda seen: bool(of_type(seen, PaymentAuthorized)))

    # when the cancellation reaches billing before the Shipped of a parcel that had already left,
    # and fulfillment then says it stopped the rest
    parcel = shipped(order, {"SKU-1": 2})
    billing.send(cancelled(order), parcel, stopped(order, went_ahead=[parcel.shipment_id]))

    # then the parcel is invoiced and captured, what is left of the payment voided, and the
    # invoice credited and refunded (not dead-lettered as a shipment of a voided payment)
    out = billing.published(lambda seen: bool(credit_notes(seen)))
    [invoice] = of_type(out, Invoiced)
    assert invoice.shipment_id == parcel.shipment_id  # type: ignore[attr-defined]
    [note] = credit_notes(out)
    assert note.gross == invoice.gross  # type: ignore[attr-defined]
    gateway = billing.app.gateway
    assert isinstance(gateway, SandboxGateway)
    refund = f"refund/{note.credit_note_number}"  # type: ignore[attr-defined]
    wait_for_call(gateway, ("refund", refund))
    calls = [call for call in gateway.calls if call[0] != "authorise"]
    assert calls == [
        ("capture", f"capture/{parcel.shipment_id}"),
        ("void", f"void/{order}"),
        ("refund", refund),
    ]
    assert gateway.refunded == {refund: note.gross.amount}  # type: ignore[attr-defined]


def test_a_cancellation_every_parcel_outran_is_credited_and_refunded_but_not_voided(
    billing: Harness,
) -> None:
    # Given an authorised order
    order, lines = uuid4(), {"SKU-1": 1}
    billing.send(order_placed(order, lines), stock_reserved(order, lines))
    billing.published(lambda seen: bool(of_type(seen, PaymentAuthorized)))

    # when its only parcel had left as the cancellation was on its way
    parcel = shipped(order, lines)
    billing.send(cancelled(order), parcel, stopped(order, went_ahead=[parcel.shipment_id]))

    # then the payment, captured in full, is refunded, not voided (providers refuse that)
    out = billing.published(lambda seen: bool(credit_notes(seen)))
    [invoice] = of_type(out, Invoiced)
    [note] = credit_notes(out)
    refund = f"refund/{note.credit_note_number}"
    gateway = billing.app.gateway
    assert isinstance(gateway, SandboxGateway)
    wait_for_call(gateway, ("refund", refund))
    assert [call for call in gateway.calls if call[0] != "authorise"] == [
        ("capture", f"capture/{parcel.shipment_id}"),
        ("refund", refund),
    ]
    assert gateway.refunded == {refund: invoice.gross.amount}  # type: ignore[attr-defined]


def wait_for_call(gateway: SandboxGateway, call: tuple[str, str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while call not in gateway.calls:
        assert time.monotonic() < deadline, gateway.calls
        time.sleep(0.1)
