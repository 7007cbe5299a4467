"""Refunds after commit, on both stores: the refunds worker refunds each committed credit note
once, for its amount, under the note's number; a note that lost its transaction is never
refunded, so a cancellation racing a return cannot refund the returned part twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from orderflow.billing.application import Billing, issue_credit_note
from orderflow.billing.domain import Account, Document, account_id, document_id
from orderflow.billing.invoicing import document, line
from orderflow.billing.payments import SandboxGateway
from orderflow.billing.policies import credit_all
from orderflow.billing.refunds import refund_credit_notes, refund_next
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for
from orderflow.runtime.uow import UnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
def billing(store: Store, store_settings: Settings) -> Billing:
    return Billing(store.env, store_settings, SandboxGateway())


def test_a_cancellation_that_loses_to_a_return_refunds_only_what_is_left(billing: Billing) -> None:
    # Given an invoice of three units on an authorised payment
    payment = uuid4()
    invoice = invoiced(
        billing, payment, line("SKU-1", "SKU-1", 3, Decimal("30"), Decimal("0.19"), "EUR")
    )

    # when the cancellation credits the whole invoice, a return of one unit commits first,
    # and the cancellation's transaction, losing the race, is retried
    losing = UnitOfWork(billing)
    credit_all(losing, invoice.number, "order cancelled", refund_to=payment)
    returned = billing.credit(invoice.number, {"SKU-1": 1}, "damaged", "r-1")
    with pytest.raises(IntegrityError):
        losing.commit([])
    retried = UnitOfWork(billing)
    rest = credit_all(retried, invoice.number, "order cancelled", refund_to=payment)
    retried.commit([])
    refund_next(billing)

    # then the two committed notes are refunded, once each, adding up to the invoice
    assert rest is not None
    assert gateway(billing).refunded == {
        f"refund/{returned.number}": Decimal("10.00"),
        f"refund/{rest.number}": Decimal("20.00"),
    }
    stored = billing.document(invoice.number)
    assert stored is not None
    assert stored.credit_notes == [returned.number, rest.number]


def test_a_note_is_refunded_again_under_its_key_after_a_crash_and_the_provider_refunds_once(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a committed credit note
    payment = uuid4()
    invoice = invoiced(
        billing, payment, line("SKU-1", "SKU-1", 1, Decimal("12.5"), Decimal("0.19"), "EUR")
    )
    note = credit(billing, invoice, refund_to=payment)

    # when the worker dies after the provider answered, before the note recorded the refund;
    # and, run again, dies after the note recorded it, before the worker saved its position
    with monkeypatch.context() as crashing:
        crashing.setattr(Document, "refunded", crash)
        with pytest.raises(Crashed):
            refund_next(billing)
    with monkeypatch.context() as crashing:
        crashing.setattr(billing.recorder, "save_relay_position", crash)
        with pytest.raises(Crashed):
            refund_next(billing)
    assert refund_next(billing) == 2  # the invoice and the note, read a third time

    # then the provider was asked twice under one key and refunded once, the note says when,
    # and the invoice names its note
    key = f"refund/{note.number}"
    assert gateway(billing).calls.count(("refund", key)) == 2
    assert gateway(billing).refunded == {key: Decimal("12.50")}
    assert billing.document(note.number).refunded_at is not None  # type: ignore[union-attr]
    assert billing.document(invoice.number).credit_notes == [note.number]  # type: ignore[union-attr]
    assert refund_next(billing) == 0, "caught up"


def test_two_billing_processes_refunding_one_note_ask_under_one_key_and_record_it_once(
    billing: Billing, store: Store, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a committed credit note and a second billing process on the same store
    payment = uuid4()
    invoice = invoiced(
        billing, payment, line("SKU-1", "SKU-1", 1, Decimal("8"), Decimal("0.19"), "EUR")
    )
    note = credit(billing, invoice, refund_to=payment)
    other = Billing(store.env, store_settings, billing.gateway)

    # when the other one's worker refunds and records the note while this one's is waiting
    # for the provider's answer
    ask = billing.gateway.refund

    def other_first(*args: object) -> None:
        monkeypatch.setattr(billing.gateway, "refund", ask)
        refund_next(other)
        ask(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(billing.gateway, "refund", other_first)
    refund_next(billing)

    # then both asked under the note's key, the provider refunded once, and the note holds
    # one record of it
    key = f"refund/{note.number}"
    assert gateway(billing).calls.count(("refund", key)) == 2
    assert gateway(billing).refunded == {key: Decimal("8.00")}
    stored = billing.document(note.number)
    assert stored is not None
    assert stored.refunded_at is not None
    assert stored.version == 2, "issued, then refunded once"
    other.close()


def test_one_of_two_billing_processes_asks_the_provider_for_each_refund(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given three committed credit notes and two billing processes' refunds workers on one
    # store, with one provider
    settings = store_settings
    store = store_for(unique("billing"), settings)
    first = Billing(store.env, settings, SandboxGateway())
    second = Billing(store.env, settings, first.gateway)
    payment = uuid4()
    notes = []
    for _ in range(3):
        invoice = invoiced(
            first, payment, line("SKU-1", "SKU-1", 1, Decimal("8"), Decimal("0.19"), "EUR")
        )
        notes.append(credit(first, invoice, refund_to=payment))

    # when both workers run until every note is refunded
    stopping = threading.Event()
    workers = [
        threading.Thread(target=refund_credit_notes, args=(app, stopping))
        for app in (first, second)
    ]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: len(gateway(first).refunded) == 3, within_s=30)
    finally:
        stopping.set()
        for worker in workers:
            worker.join(10)

    # then the provider was asked once per note: one worker held the lease
    asked = Counter(key for kind, key in gateway(first).calls if kind == "refund")
    assert asked == Counter({f"refund/{note.number}": 1 for note in notes})
    first.close()
    second.close()


def test_a_worker_that_loses_its_lease_mid_batch_leaves_the_rest_to_the_next_holder(
    billing: Billing,
) -> None:
    # Given three committed credit notes
    payment = uuid4()
    notes = [credit(billing, invoiced(billing, payment, line_of("6")), payment) for _ in range(3)]

    # when the worker's lease moves on after two refunds, and then the next holder runs
    answers = iter([True, True, False])
    refund_next(billing, still_held=lambda: next(answers))
    refunded_first = set(gateway(billing).refunded)
    refund_next(billing)

    # then the first refunded two notes, and the next holder the third alone, each once
    keys = [f"refund/{note.number}" for note in notes]
    assert refunded_first == set(keys[:2])
    assert Counter(key for kind, key in gateway(billing).calls if kind == "refund") == Counter(keys)


def wait_until(condition: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_refund_refused_for_good_is_recorded_and_the_notes_after_it_are_refunded(
    store: Store, store_settings: Settings
) -> None:
    # Given two credit notes, the first to a payment whose refunds the provider refuses
    closed, open_ = uuid4(), uuid4()
    billing = Billing(store.env, store_settings, SandboxGateway(frozenset({closed})))
    refused = credit(billing, invoiced(billing, closed, line_of("5")), refund_to=closed)
    refunded = credit(billing, invoiced(billing, open_, line_of("7")), refund_to=open_)

    # when the worker runs, and runs again
    refund_next(billing)
    refund_next(billing)

    # then the first note records the refusal and is not asked again; the second is refunded
    first, second = billing.document(refused.number), billing.document(refunded.number)
    assert first is not None
    assert second is not None
    assert first.refunded_at is None
    assert first.refund_refused == f"sandbox: refunds to payment {closed} are refused"
    assert gateway(billing).calls.count(("refund", f"refund/{refused.number}")) == 1
    assert second.refunded_at is not None
    assert gateway(billing).refunded == {f"refund/{refunded.number}": Decimal("7.00")}


def line_of(gross: str) -> dict[str, object]:
    return line("SKU-1", "SKU-1", 1, Decimal(gross), Decimal("0.19"), "EUR")


def test_the_worker_on_an_empty_store_finds_nothing_to_do(billing: Billing) -> None:
    assert refund_next(billing) == 0


class Crashed(Exception):
    pass


def crash(*_: object) -> None:
    raise Crashed


def test_a_note_without_a_payment_to_refund_to_is_not_refunded(billing: Billing) -> None:
    # Given a note issued before credit notes named their payment (or for an unpaid order)
    invoice = invoiced(
        billing, uuid4(), line("SKU-1", "SKU-1", 1, Decimal("5"), Decimal("0.19"), "EUR")
    )
    note = credit(billing, invoice, refund_to=None)

    # when the worker runs, then nothing is refunded
    refund_next(billing)
    assert gateway(billing).refunded == {}
    assert billing.document(note.number).refunded_at is None  # type: ignore[union-attr]


def invoiced(billing: Billing, payment: UUID, *lines: dict[str, object]) -> Document:
    order = uuid4()
    account = Account(id=account_id(order), order_id=order)
    account.place({"total": {"amount": "0", "currency": "EUR"}}, correlation_id=uuid4())
    account.reserve()
    account.authorized(payment, caused_by=uuid4())
    number = f"INV-2026-{uuid4().int % 10**6:06d}"
    invoice = Document(
        id=document_id(number),
        kind="invoice",
        number=number,
        order_id=order,
        body=document(list(lines), "EUR"),
        buyer={},
        correlation_id=uuid4(),
        caused_by=None,
    )
    account.invoiced(uuid4(), number)
    billing.save(account, invoice)
    return invoice


def credit(billing: Billing, invoice: Document, refund_to: UUID | None) -> Document:
    uow = UnitOfWork(billing)
    today = datetime.now(UTC).date()
    note = issue_credit_note(uow, uow.get(invoice.id), {"SKU-1": 1}, "returned", today, refund_to)
    uow.commit([])
    return note


def gateway(billing: Billing) -> SandboxGateway:
    assert isinstance(billing.gateway, SandboxGateway)
    return billing.gateway
