"""How inventory reacts: an order placed reserves all of it or none; a cancelled order (once
fulfillment has stopped it) or a declined payment releases what is still held; an authorised
payment stops the expiry clock; a shipment commits its lines; an ERP receipt adds stock and
fills backorders."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

from orderflow.inventory.allocation import Take, allocate
from orderflow.inventory.application import Inventory, filling_backorders, release_stock
from orderflow.inventory.domain import (
    IllegalTransition,
    Reservation,
    SkuStock,
    StoppedOrder,
    reservation_id,
    sku_id,
)
from orderflow.runtime.inbox import Handlers, by_order
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.billing import PaymentAuthorized, PaymentDeclined
from orderflow.schemas.envelope import Message
from orderflow.schemas.fulfillment import FulfillmentStopped, Shipped
from orderflow.schemas.inventory import StockReceived
from orderflow.schemas.orders import OrderPlaced


def _inventory(uow: UnitOfWork) -> Inventory:
    assert isinstance(uow.app, Inventory)
    return uow.app


def on_order_placed(placed: OrderPlaced, uow: UnitOfWork) -> None:
    if isinstance(uow.find(reservation_id(placed.order_id)), StoppedOrder):
        return  # cancelled and stopped before it reached us: nothing to hold
    app = _inventory(uow)
    skus = {line.sku for line in placed.lines}
    stocks = {sku: uow.find(sku_id(sku)) for sku in skus}
    lines = [(line.sku, line.quantity) for line in placed.lines]
    takes, short = allocate(lines, stocks, app.settings.warehouses)
    _hold(placed.order_id, takes, stocks, placed.occurred_at)
    uow.add(
        Reservation(
            id=reservation_id(placed.order_id),
            order_id=placed.order_id,
            allocations=[vars(take) for take in takes],
            short_lines=[vars(line) for line in short],
            expires_at=datetime.now(UTC) + timedelta(seconds=app.settings.reservation_ttl_s),
            correlation_id=placed.correlation_id,
            caused_by=placed.event_id,
        )
    )


def _hold(
    order_id: UUID, takes: list[Take], stocks: dict[str, SkuStock | None], at: datetime
) -> None:
    """One hold per SKU and warehouse: units from stock on hand and units backordered."""
    held: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for take in takes:
        held[take.sku, take.warehouse][1 if take.backordered else 0] += take.quantity
    for (sku, warehouse), (reserved, backordered) in held.items():
        stock = stocks[sku]
        assert stock is not None, "allocate takes only from known stock"
        stock.hold(order_id, warehouse, reserved, backordered, at.isoformat())


def _release(order_id: UUID, reason: str, caused_by: UUID, uow: UnitOfWork) -> None:
    reservation = uow.find(reservation_id(order_id))
    if isinstance(reservation, Reservation) and reservation.release(reason, caused_by):
        release_stock(uow, reservation)


def on_fulfillment_stopped(stopped: FulfillmentStopped, uow: UnitOfWork) -> None:
    """A cancelled order releases once fulfillment has said what it stopped: every Shipped of
    the order came before on the same partition, so what is still held did not leave. (On the
    OrderCancelled itself, a parcel already on its way would lose its stock to other orders.)"""
    if uow.find(reservation_id(stopped.order_id)) is None:
        uow.add(StoppedOrder(id=reservation_id(stopped.order_id), order_id=stopped.order_id))
        return
    _release(stopped.order_id, "cancelled", stopped.event_id, uow)


def on_payment_declined(declined: PaymentDeclined, uow: UnitOfWork) -> None:
    _release(declined.order_id, "payment_declined", declined.event_id, uow)


def on_payment_authorized(authorized: PaymentAuthorized, uow: UnitOfWork) -> None:
    reservation = uow.find(reservation_id(authorized.order_id))
    if not isinstance(reservation, Reservation):
        raise IllegalTransition(f"no reservation for order {authorized.order_id}")
    reservation.authorize(authorized.event_id)


def on_shipped(shipped: Shipped, uow: UnitOfWork) -> None:
    """Commit the shipped lines only: on hand and the order's hold both go down."""
    reservation = uow.find(reservation_id(shipped.order_id))
    if not isinstance(reservation, Reservation):
        raise IllegalTransition(f"no reservation for order {shipped.order_id}")
    for line in shipped.lines:
        stock: SkuStock = uow.get(sku_id(line.sku))
        stock.ship(shipped.order_id, shipped.warehouse, line.quantity)
        reservation.ship(shipped.warehouse, line.sku, line.quantity, shipped.event_id)


def on_stock_received(received: StockReceived, uow: UnitOfWork) -> None:
    app = _inventory(uow)
    app.require_warehouse(received.warehouse)
    stock = uow.find(sku_id(received.sku)) or app.new_stock(received.sku)
    uow.add(stock)
    filling_backorders(
        uow,
        stock,
        lambda: stock.receive(received.warehouse, received.quantity, received.reference),
        received.event_id,
    )


HANDLERS: Handlers = {
    OrderPlaced: on_order_placed,
    FulfillmentStopped: on_fulfillment_stopped,
    PaymentDeclined: on_payment_declined,
    PaymentAuthorized: on_payment_authorized,
    Shipped: on_shipped,
    StockReceived: on_stock_received,
}


_reservation = by_order(reservation_id)


def finds(event: Message) -> list[UUID]:
    """The order's reservation (or its record of having been stopped before it was placed), and
    the stock of each SKU an order or a receipt names: a SKU never received (sold out for good)
    is looked for by every order of it."""
    found = list(_reservation(event))
    if isinstance(event, OrderPlaced):
        found += [sku_id(line.sku) for line in event.lines]
    elif isinstance(event, StockReceived):
        found.append(sku_id(event.sku))
    return found
