"""How fulfillment reacts: the order's address (OrderPlaced), its allocation (StockReserved)
and its authorised payment (PaymentAuthorized), in any order, create one shipment per
warehouse, and each filled backorder (BackorderFilled) more of them; a cancellation stops
the shipments that have not left and says which it stopped and which had gone."""

from __future__ import annotations

from uuid import UUID

from orderflow.fulfillment.application import create_fill_shipments, create_shipments
from orderflow.fulfillment.domain import Dispatch, Shipment, dispatch_id
from orderflow.runtime.inbox import Handlers, by_order
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.billing import PaymentAuthorized
from orderflow.schemas.inventory import BackorderFilled, StockReserved
from orderflow.schemas.orders import OrderCancelled, OrderPlaced


def _dispatch(uow: UnitOfWork, order_id: UUID) -> Dispatch:
    dispatch = uow.find(dispatch_id(order_id))
    if dispatch is None:
        dispatch = Dispatch(id=dispatch_id(order_id), order_id=order_id)
        uow.add(dispatch)
    assert isinstance(dispatch, Dispatch)
    return dispatch


def _ship_when_due(uow: UnitOfWork, dispatch: Dispatch, caused_by: UUID) -> None:
    if dispatch.due_for_shipments() and dispatch.address is not None:
        create_shipments(uow, dispatch, caused_by)
    for fill in dispatch.fills_due():
        create_fill_shipments(uow, dispatch, fill, caused_by)


def on_order_placed(placed: OrderPlaced, uow: UnitOfWork) -> None:
    dispatch = _dispatch(uow, placed.order_id)
    dispatch.placed(placed.shipping_address.model_dump(mode="json"), placed.correlation_id)
    _ship_when_due(uow, dispatch, placed.event_id)


def on_stock_reserved(reserved: StockReserved, uow: UnitOfWork) -> None:
    dispatch = _dispatch(uow, reserved.order_id)
    allocations = [a.model_dump(mode="json") for a in reserved.allocations]
    dispatch.allocated(allocations, reserved.correlation_id)
    _ship_when_due(uow, dispatch, reserved.event_id)


def on_backorder_filled(filled: BackorderFilled, uow: UnitOfWork) -> None:
    dispatch = _dispatch(uow, filled.order_id)
    allocations = [a.model_dump(mode="json") for a in filled.allocations]
    dispatch.backorder_filled(filled.fill, allocations)
    _ship_when_due(uow, dispatch, filled.event_id)


def on_payment_authorized(authorized: PaymentAuthorized, uow: UnitOfWork) -> None:
    dispatch = _dispatch(uow, authorized.order_id)
    dispatch.authorize()
    _ship_when_due(uow, dispatch, authorized.event_id)


def on_order_cancelled(cancelled: OrderCancelled, uow: UnitOfWork) -> None:
    """Stop every shipment that has not left; those that have go on. The dispatch says which
    (FulfillmentStopped): inventory and billing settle the order on that, not on the
    cancellation, which may have crossed a parcel leaving the warehouse."""
    dispatch = _dispatch(uow, cancelled.order_id)
    if dispatch.cancelled:
        return
    stopped, went_ahead = [], []
    for shipment_id in dispatch.shipments:
        shipment = uow.get(UUID(shipment_id))
        assert isinstance(shipment, Shipment)
        if shipment.cancel():
            stopped.append(shipment.id)
        elif shipment.state != "cancelled":
            went_ahead.append(shipment.id)
    dispatch.cancel(cancelled.correlation_id, cancelled.event_id, stopped, went_ahead)


HANDLERS: Handlers = {
    OrderPlaced: on_order_placed,
    StockReserved: on_stock_reserved,
    BackorderFilled: on_backorder_filled,
    PaymentAuthorized: on_payment_authorized,
    OrderCancelled: on_order_cancelled,
}

finds = by_order(dispatch_id)  # the order's dispatch
