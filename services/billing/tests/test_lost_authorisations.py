"""An authorisation whose answer a crash lost, on both stores: the provider approved it, the
transaction that would have recorded it never committed, and the order's cancellation reached
billing before the redelivered event that asked for it. No authorisation is left holding the
customer's money: billing voids by the attempt's key what the provider may have approved."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from billing_data import cancelled, order_placed, stock_reserved, stopped

from orderflow.billing.application import Billing
from orderflow.billing.domain import Account, account_id
from orderflow.billing.payments import GatewayTimeout, SandboxGateway
from orderflow.billing.policies import HANDLERS
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.envelope import Message

pytestmark = pytest.mark.integration


@pytest.fixture
def billing(store: Store, store_settings: Settings) -> Billing:
    return Billing(store.env, store_settings, SandboxGateway())


def test_an_authorisation_lost_in_a_crash_is_voided_when_the_cancellation_overtakes_its_retry(
    billing: Billing,
) -> None:
    # Given an order billing knows, whose StockReserved asked the provider, which approved,
    # before the process died with the transaction uncommitted
    order, lines = uuid4(), {"SKU-1": 1}
    handle(billing, order_placed(order, lines))
    reserved = stock_reserved(order, lines)
    lost = UnitOfWork(billing)
    HANDLERS[type(reserved)](reserved, lost)
    assert gateway(billing).approved, "the provider holds the customer's money"

    # when, after the restart, the cancellation comes first, then the redelivered StockReserved
    # and fulfillment's stop
    handle(billing, cancelled(order))
    handle(billing, reserved)
    handle(billing, stopped(order))

    # then what the provider approved under the attempt's key is voided, and billing records
    # the order as never to be authorised
    [(key, payment)] = gateway(billing).approved.items()
    assert key == f"authorise/{order}"
    assert gateway(billing).voided == {payment}
    assert account(billing, order).payment == "withdrawn"
    assert gateway(billing).calls.count(("authorise", key)) == 1, "not asked again"


def test_an_authorisation_whose_answer_timed_out_is_voided_when_the_order_is_cancelled(
    billing: Billing,
) -> None:
    # Given an order whose authorisation the provider approved but whose answer timed out,
    # and the process died before retrying
    order, lines = uuid4(), {"SKU-1": 1}
    handle(billing, order_placed(order, lines, token="tok_timeout"))
    reserved = stock_reserved(order, lines)
    with pytest.raises(GatewayTimeout):
        HANDLERS[type(reserved)](reserved, UnitOfWork(billing))

    # when, after the restart, the cancellation comes before the redelivered StockReserved
    handle(billing, cancelled(order))
    handle(billing, reserved)

    # then the approval nobody heard of is voided
    [payment] = gateway(billing).approved.values()
    assert gateway(billing).voided == {payment}
    assert account(billing, order).payment == "withdrawn"


def test_an_order_cancelled_before_it_was_due_is_never_authorised(billing: Billing) -> None:
    # Given an order cancelled before billing knew it
    order, lines = uuid4(), {"SKU-1": 1}
    handle(billing, cancelled(order))

    # when its OrderPlaced and StockReserved arrive, and the StockReserved again
    reserved = stock_reserved(order, lines)
    handle(billing, order_placed(order, lines))
    handle(billing, reserved)
    handle(billing, stock_reserved(order, lines))

    # then nothing is authorised, and the void by key, a no-op at the provider, is asked once
    calls = gateway(billing).calls
    assert calls == [("void_by_key", f"authorise/{order}")]
    assert gateway(billing).voided == set()
    assert account(billing, order).payment == "withdrawn"


def handle(billing: Billing, message: Message) -> None:
    """The message applied and committed, as the consumer loop does."""
    uow = UnitOfWork(billing)
    handler: Callable[[Message, UnitOfWork], None] = HANDLERS[type(message)]
    handler(message, uow)
    uow.commit([])


def account(billing: Billing, order: UUID) -> Account:
    found: Account = billing.repository.get(account_id(order))
    return found


def gateway(billing: Billing) -> SandboxGateway:
    assert isinstance(billing.gateway, SandboxGateway)
    return billing.gateway
