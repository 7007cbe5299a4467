"""How order intake reacts to messages: channel submissions place orders; inventory, billing and
fulfillment events move an order through its lifecycle. An event the order cannot take raises
`IllegalTransition`, which the runtime dead-letters with the reason; the service goes on."""

from __future__ import annotations

from collections import Counter
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from orderflow.intake.application import Conflict, place
from orderflow.intake.domain import Order, RejectedSubmission, order_id_for, rejection_id_for
from orderflow.runtime.inbox import Handlers
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.billing import Invoiced, PaymentAuthorized, PaymentDeclined
from orderflow.schemas.common import Identifier, Reason
from orderflow.schemas.envelope import Message, order_id_of
from orderflow.schemas.errors import DecodeError, InvalidEvent
from orderflow.schemas.fulfillment import Delivered, Shipped
from orderflow.schemas.inventory import StockReleased, StockReservationFailed, StockReserved
from orderflow.schemas.orders import OrderSubmitted

_MAX_REASONS = 50


class UnknownOrder(LookupError):
    """An event names an order this service never placed."""


def _order(uow: UnitOfWork, order_id: UUID) -> Order:
    order = uow.find(order_id)
    if not isinstance(order, Order):
        raise UnknownOrder(f"no order {order_id}")
    return order


def on_submitted(submission: OrderSubmitted, uow: UnitOfWork) -> None:
    order = place(submission)
    placed = uow.find(order.id)  # the same (channel, external id) places one order
    if placed is None:
        uow.add(order)
    elif getattr(placed, "request_hash", order.request_hash) != order.request_hash:
        # another order under a used external id: dead-lettered with why, as over HTTP it is
        # a 409, rather than taken for a resend and dropped unseen
        raise Conflict(
            f"external_id {submission.external_id!r} of channel {submission.channel!r}"
            " already names a different order"
        )


def on_reserved(event: StockReserved, uow: UnitOfWork) -> None:
    _order(uow, event.order_id).reserve(event.reservation_id, caused_by=event.event_id)


def on_reservation_failed(event: StockReservationFailed, uow: UnitOfWork) -> None:
    reasons = [
        {
            "code": "out_of_stock",
            "message": f"{line.sku}: {line.requested} requested, {line.available} available",
            "field": line.sku,
        }
        for line in event.short_lines
    ]
    _order(uow, event.order_id).reject_for_stock(reasons, caused_by=event.event_id)


def on_released(event: StockReleased, uow: UnitOfWork) -> None:
    if event.reason == "expired":  # other releases follow our own cancellation
        _order(uow, event.order_id).expire(caused_by=event.event_id)


def on_authorized(event: PaymentAuthorized, uow: UnitOfWork) -> None:
    _order(uow, event.order_id).authorize(event.payment_id, caused_by=event.event_id)


def on_declined(event: PaymentDeclined, uow: UnitOfWork) -> None:
    _order(uow, event.order_id).decline(event.reason, caused_by=event.event_id)


def on_shipped(event: Shipped, uow: UnitOfWork) -> None:
    lines: Counter[str] = Counter()
    for line in event.lines:
        lines[line.sku] += line.quantity
    _order(uow, event.order_id).ship(event.shipment_id, dict(lines), caused_by=event.event_id)


def on_invoiced(event: Invoiced, uow: UnitOfWork) -> None:
    order = _order(uow, event.order_id)
    order.invoice(event.invoice_number, event.shipment_id, caused_by=event.event_id)


def on_delivered(event: Delivered, uow: UnitOfWork) -> None:
    _order(uow, event.order_id).deliver(event.shipment_id, caused_by=event.event_id)


class InvalidSubmission(Message):
    """A submission that broke the contract, as far as it could be read: who sent it and why it
    was refused. Internal to intake, never published as such (its answer is OrderRejected)."""

    type: Literal["InvalidSubmission"] = "InvalidSubmission"
    version: Literal[1] = 1
    channel: Identifier
    external_id: Identifier
    submission_id: UUID
    reasons: list[Reason]


class _Sender(BaseModel):
    """Just enough of a submission to answer it."""

    model_config = ConfigDict(extra="ignore")
    channel: Identifier
    external_id: Identifier
    event_id: UUID


def rescue(error: DecodeError) -> Message | None:
    """An invalid submission that still names its channel and external id gets a rejection;
    anything less readable is dead-lettered."""
    submitted = dict(error.headers).get("ce_type") == b"orderflow.OrderSubmitted.v1"
    if not (isinstance(error, InvalidEvent) and submitted and error.raw):
        return None
    try:
        sender = _Sender.model_validate_json(error.raw)
    except ValidationError:
        return None  # we cannot tell whom to answer
    try:
        OrderSubmitted.model_validate_json(error.raw)
    except ValidationError as refused:
        return InvalidSubmission(
            correlation_id=sender.event_id,
            channel=sender.channel,
            external_id=sender.external_id,
            submission_id=sender.event_id,
            reasons=reasons_of(refused),
        )
    return None  # the body is valid; the envelope was not (a ce_id mismatch): dead-letter


def reasons_of(error: ValidationError) -> list[Reason]:
    reasons = []
    for problem in error.errors()[:_MAX_REASONS]:
        field = ".".join(str(part) for part in problem["loc"])[:200] or None
        reasons.append(Reason(code="invalid_field", message=problem["msg"][:1000], field=field))
    return reasons


def on_invalid_submission(invalid: InvalidSubmission, uow: UnitOfWork) -> None:
    rejection_id = rejection_id_for(invalid.channel, invalid.external_id, invalid.submission_id)
    if uow.find(rejection_id) is None:  # the same submission redelivered: one rejection
        uow.add(
            RejectedSubmission(
                id=rejection_id,
                channel=invalid.channel,
                external_id=invalid.external_id,
                reasons=[reason.model_dump(mode="json") for reason in invalid.reasons],
                correlation_id=invalid.correlation_id,
            )
        )


HANDLERS: Handlers = {
    OrderSubmitted: on_submitted,
    InvalidSubmission: on_invalid_submission,
    StockReserved: on_reserved,
    StockReservationFailed: on_reservation_failed,
    StockReleased: on_released,
    PaymentAuthorized: on_authorized,
    PaymentDeclined: on_declined,
    Shipped: on_shipped,
    Invoiced: on_invoiced,
    Delivered: on_delivered,
}


def finds(event: Message) -> list[UUID]:
    """What a marketplace submission creates, once: its order, or its rejection; and the order
    any other event moves on."""
    if isinstance(event, OrderSubmitted):
        return [order_id_for(event.channel, event.external_id)]
    if isinstance(event, InvalidSubmission):
        return [rejection_id_for(event.channel, event.external_id, event.submission_id)]
    order_id = order_id_of(event)
    return [] if order_id is None else [order_id]
