"""Billing's aggregates and the sandbox gateway, given events, when a command, then the state."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from orderflow.billing.domain import Account, IllegalTransition, Series, account_id, series_id
from orderflow.billing.payments import GatewayTimeout, SandboxGateway

pytestmark = pytest.mark.unit
ORDER = {"total": {"amount": "10.00", "currency": "EUR"}, "payment_token": "tok_ok"}


def given_account(placed: bool = True, reserved: bool = True) -> Account:
    order_id = uuid4()
    account = Account(id=account_id(order_id), order_id=order_id)
    if placed:
        account.place(ORDER, uuid4())
    if reserved:
        account.reserve()
    return account


def test_a_series_numbers_without_gaps_from_one() -> None:
    series = Series(id=series_id("INV", 2026), prefix="INV", year=2026)
    assert [series.take() for _ in range(3)] == [
        "INV-2026-000001",
        "INV-2026-000002",
        "INV-2026-000003",
    ]


def test_payment_is_due_once_the_order_is_known_and_its_stock_reserved() -> None:
    assert not given_account(placed=False).due_for_authorisation()
    assert not given_account(reserved=False).due_for_authorisation()
    account = given_account()
    assert account.due_for_authorisation()
    account.authorized(uuid4(), uuid4())
    assert not account.due_for_authorisation()


def test_a_cancelled_account_is_not_authorised_and_its_authorisation_can_be_voided() -> None:
    account = given_account()
    account.authorized(uuid4(), uuid4())
    account.cancel()
    account.cancel()
    assert [type(e).__name__ for e in account.collect_events()].count("Cancelled") == 1
    assert account.cancelled
    account.voided()
    assert account.payment == "voided"


def test_a_shipment_is_invoiced_once_and_only_when_authorised() -> None:
    account, shipment = given_account(), uuid4()
    with pytest.raises(IllegalTransition, match="none payment"):
        account.invoiced(shipment, "INV-2026-000001")
    account.authorized(uuid4(), uuid4())
    account.invoiced(shipment, "INV-2026-000001")
    with pytest.raises(IllegalTransition, match="already invoiced"):
        account.invoiced(shipment, "INV-2026-000002")


def test_the_sandbox_answers_by_token_and_by_key() -> None:
    gateway, amount = SandboxGateway(), Decimal("10.00")
    assert gateway.authorise("a", "tok_ok", amount, "EUR").approved
    declined = gateway.authorise("b", "tok_decline", amount, "EUR")
    assert (declined.approved, declined.reason) == (False, "card declined")
    with pytest.raises(GatewayTimeout):
        gateway.authorise("c", "tok_timeout", amount, "EUR")
    retried = gateway.authorise("c", "tok_timeout", amount, "EUR")
    assert retried.approved
    assert retried.payment_id == gateway.authorise("c", "tok_timeout", amount, "EUR").payment_id
