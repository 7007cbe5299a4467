"""How billing reacts: an order known and its stock reserved → authorise the total (or, if it
was cancelled by then, void by key what a lost attempt may have authorised); a shipment →
capture its part and invoice it; a cancellation → no authorisation from then on, and once
fulfillment has stopped the order, void what is left of the authorisation and credit what
was invoiced (the refunds worker refunds the notes after commit). Calls to the payment
gateway carry idempotency keys derived from the order or shipment, so a redelivered event (or
a retry after a gateway timeout) has one effect."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from orderflow.billing.application import Billing, issue_credit_note, issue_invoice
from orderflow.billing.domain import Account, Document, IllegalTransition, account_id, document_id
from orderflow.runtime.inbox import Handlers, by_order
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.fulfillment import FulfillmentStopped, Shipped
from orderflow.schemas.inventory import StockReserved
from orderflow.schemas.orders import OrderCancelled, OrderPlaced

_ORDER_FIELDS = {
    "channel",
    "external_id",
    "customer",
    "shipping_address",
    "lines",
    "shipping_fee",
    "payment_token",
    "total",
}


def _billing(uow: UnitOfWork) -> Billing:
    assert isinstance(uow.app, Billing)
    return uow.app


def _account(uow: UnitOfWork, order_id: UUID) -> Account:
    account = uow.find(account_id(order_id))
    if account is None:
        account = Account(id=account_id(order_id), order_id=order_id)
        uow.add(account)
    assert isinstance(account, Account)
    return account


def on_order_placed(placed: OrderPlaced, uow: UnitOfWork) -> None:
    account = _account(uow, placed.order_id)
    account.place(placed.model_dump(mode="json", include=_ORDER_FIELDS), placed.correlation_id)
    _authorise_when_due(uow, account, placed.event_id)


def on_stock_reserved(reserved: StockReserved, uow: UnitOfWork) -> None:
    account = _account(uow, reserved.order_id)
    account.reserve()
    _authorise_when_due(uow, account, reserved.event_id)


def _authorise_when_due(uow: UnitOfWork, account: Account, caused_by: UUID) -> None:
    if not account.due_for_authorisation():
        return
    if account.cancelled:
        _withdraw(uow, account)
        return
    assert account.order is not None
    total = account.total
    answer = _billing(uow).gateway.authorise(
        _authorisation_key(account),
        account.order["payment_token"],
        Decimal(total["amount"]),
        total["currency"],
    )
    if answer.approved:
        account.authorized(answer.payment_id, caused_by)
    else:
        account.declined(answer.payment_id, answer.reason, caused_by)


def _withdraw(uow: UnitOfWork, account: Account) -> None:
    """The order was cancelled before it was authorised, as far as this store knows. An
    attempt may still have been made: in a transaction that a crash lost, before the
    cancellation overtook the redelivered event (they come on different topics). Nothing
    recorded its answer, so void by the attempt's key: a no-op when there was none."""
    _billing(uow).gateway.void_by_key(_authorisation_key(account))
    account.withdrawn()


def _authorisation_key(account: Account) -> str:
    return f"authorise/{account.order_id}"


def on_shipped(shipped: Shipped, uow: UnitOfWork) -> None:
    account = _account(uow, shipped.order_id)
    if account.payment != "authorized" or account.payment_id is None:
        raise IllegalTransition(f"shipment {shipped.shipment_id} of an order not authorised")
    quantities: Counter[str] = Counter()
    for line in shipped.lines:
        quantities[line.sku] += line.quantity
    today = datetime.now(UTC).date()
    invoice = issue_invoice(
        uow, account, shipped.shipment_id, sorted(quantities.items()), today, shipped.event_id
    )
    _billing(uow).gateway.capture(
        f"capture/{shipped.shipment_id}", account.payment_id, *invoice.gross
    )


def on_order_cancelled(cancelled: OrderCancelled, uow: UnitOfWork) -> None:
    """No authorisation for a cancelled order from now on. What to void waits for
    fulfillment's answer: a parcel that left before the cancellation reached it is invoiced."""
    _account(uow, cancelled.order_id).cancel()


def on_fulfillment_stopped(stopped: FulfillmentStopped, uow: UnitOfWork) -> None:
    """Every Shipped of the order came before this on its partition and is invoiced and
    captured; nothing more will ship. So: void what is left of the authorisation (none when
    every parcel went ahead: a captured payment cannot be voided), and credit what was
    invoiced, the design's compensation for a cancellation after invoicing (a parcel that went
    ahead is expected back); the refunds worker refunds the notes once committed."""
    account = _account(uow, stopped.order_id)
    account.cancel()
    if _uncaptured(uow, account) and account.payment_id is not None:
        _billing(uow).gateway.void(f"void/{account.order_id}", account.payment_id)
        account.voided()
    for number in account.invoices.values():
        credit_all(uow, number, "order cancelled", refund_to=account.payment_id)


def _uncaptured(uow: UnitOfWork, account: Account) -> bool:
    """Whether some of the order's authorisation was not captured: each invoice captured its
    gross, and the invoices of an order shipped in full add up to its total."""
    if account.payment != "authorized" or account.order is None:
        return False
    captured = sum((_document(uow, n).gross[0] for n in account.invoices.values()), Decimal(0))
    return captured < Decimal(account.total["amount"])


def _document(uow: UnitOfWork, number: str) -> Document:
    document: Document = uow.get(document_id(number))
    return document


def credit_all(
    uow: UnitOfWork, number: str, reason: str, refund_to: UUID | None
) -> Document | None:
    """A credit note for what of invoice `number` is not credited yet; None if nothing is."""
    invoice = _document(uow, number)
    left = {
        line["description"]: line["quantity"] - invoice.credited.get(line["description"], 0)
        for line in invoice.body["lines"]
    }
    left = {description: quantity for description, quantity in left.items() if quantity > 0}
    if not left:
        return None
    return issue_credit_note(uow, invoice, left, reason, datetime.now(UTC).date(), refund_to)


HANDLERS: Handlers = {
    OrderPlaced: on_order_placed,
    StockReserved: on_stock_reserved,
    Shipped: on_shipped,
    OrderCancelled: on_order_cancelled,
    FulfillmentStopped: on_fulfillment_stopped,
}

finds = by_order(account_id)  # the order's account
