"""The channels' HTTP API: place, read, list and cancel orders. Thin: authenticate the channel,
validate with the contracts' own rules, call the application (placing through `submissions`,
which stores the orders placed at one moment together), map its refusals to 404 and 409."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from pydantic import BaseModel

from orderflow.intake.application import Conflict, Intake, NotFound
from orderflow.intake.domain import Order, Status, order_id_for
from orderflow.intake.submissions import Overloaded, Submissions
from orderflow.runtime.channels import channel_of
from orderflow.runtime.http import IdempotencyKey
from orderflow.runtime.recorders import IndexCursor
from orderflow.runtime.settings import Settings
from orderflow.schemas.common import Address, Customer, LongText, Reason
from orderflow.schemas.model import Model
from orderflow.schemas.money import Money
from orderflow.schemas.orders import Lines, NewOrder, OrderSubmitted


class OrderRequest(NewOrder):
    """The body of POST /orders: the channel topic's OrderSubmitted without `channel`."""


class CancelRequest(Model):
    detail: LongText | None = None


class OrderAccepted(BaseModel):
    order_id: UUID
    external_id: str
    status: Status


class ShipmentView(BaseModel):
    shipment_id: UUID
    lines: dict[str, int]
    delivered: bool


class OrderView(BaseModel):
    order_id: UUID
    channel: str
    external_id: str
    status: Status
    customer: Customer
    shipping_address: Address
    lines: Lines
    shipping_fee: Money
    total: Money
    placed_at: str
    updated_at: str
    reasons: list[Reason]
    shipments: list[ShipmentView]
    invoices: list[str]


class Problem(BaseModel):
    detail: str


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error answers for the OpenAPI document: what each one means."""
    meaning = {
        400: "Malformed JSON or a bad cursor.",
        401: "Missing or unknown channel API key.",
        404: "No such order for this channel.",
        409: "Conflicts with the order's state or an earlier request.",
        413: "Request body over 256 KiB.",
        503: "Intake is at capacity, or its store is away for a moment: retry after the"
        " Retry-After seconds.",
    }
    return {code: {"model": Problem, "description": meaning[code]} for code in (401, *codes)}


class OrderPage(BaseModel):
    orders: list[OrderView]
    next_cursor: str | None


def view(order: Order) -> OrderView:
    content = order.content
    return OrderView.model_validate(
        {
            "order_id": order.id,
            "channel": order.channel,
            "external_id": content["external_id"],
            "status": order.status,
            "customer": Customer.model_validate(content["customer"]),
            "shipping_address": Address.model_validate(content["shipping_address"]),
            "lines": content["lines"],
            "shipping_fee": Money.model_validate(content["shipping_fee"]),
            "total": Money.model_validate(order.total),
            "placed_at": order.created_on.isoformat(),
            "updated_at": order.modified_on.isoformat(),
            "reasons": [Reason.model_validate(reason) for reason in order.reasons],
            "shipments": [
                {"shipment_id": UUID(sid), "lines": lines, "delivered": sid in order.delivered}
                for sid, lines in order.shipments.items()
            ],
            "invoices": sorted(order.invoices),
        },
        strict=False,
    )


def encode_cursor(cursor: IndexCursor) -> str:
    return base64.urlsafe_b64encode(f"{cursor[0]}:{cursor[1]}".encode()).decode()


def decode_cursor(text: str) -> IndexCursor:
    try:
        created, _, aggregate_id = base64.urlsafe_b64decode(text.encode()).decode().partition(":")
        # microseconds, as the stores keep them: a 64-bit integer
        if created.isascii() and 0 <= int(created) < 2**63:
            return int(created), str(UUID(aggregate_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise HTTPException(400, "cursor is not one this API returned")


def routes(app: Intake, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["orders"])
    # A default, not an Annotated alias: the alias would be local, and FastAPI resolves the
    # (postponed) annotations in the module's namespace.
    authenticated = Depends(channel_of(settings.channel_keys))
    submissions = Submissions(app)  # orders placed at one moment are stored together

    @router.post(
        "/orders",
        status_code=202,
        response_model=OrderAccepted,
        responses=problems(400, 409, 413, 503),
    )
    async def submit_order(
        request: OrderRequest,
        idempotency_key: Annotated[IdempotencyKey, Header()],
        channel: str = authenticated,
    ) -> Response:
        """Place an order; the same Idempotency-Key and body always get the same answer."""
        submission = OrderSubmitted(channel=channel, **dict(request))
        try:
            answer = await submissions.submit(submission, idempotency_key)
        except Conflict as refused:
            raise HTTPException(409, str(refused)) from None
        except Overloaded as busy:
            raise HTTPException(503, str(busy), headers={"Retry-After": "1"}) from None
        # Checked and written here: returned as a model, the answer would be checked and
        # written on the threadpool, a hand-off per request.
        body = OrderAccepted.model_validate(answer.body)
        return Response(
            body.model_dump_json(),
            answer.status_code,
            {"Location": f"/orders/{body.order_id}"},
            media_type="application/json",
        )

    @router.get("/orders/{order_id}", response_model=OrderView, responses=problems(404))
    def get_order(order_id: UUID, channel: str = authenticated) -> OrderView:
        return view(_found(lambda: app.order(channel, order_id)))

    @router.get("/orders/external/{external_id}", response_model=OrderView, responses=problems(404))
    def get_order_by_external_id(
        external_id: Annotated[str, Path(max_length=64)], channel: str = authenticated
    ) -> OrderView:
        """The channel's order placed under `external_id`, over HTTP or on `channel.orders`
        (a channel that publishes learns its order's id here); 404 until intake has it."""
        return view(_found(lambda: app.order(channel, order_id_for(channel, external_id))))

    @router.get("/orders", response_model=OrderPage, responses=problems(400))
    def list_orders(
        status: Status | None = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        channel: str = authenticated,
    ) -> OrderPage:
        """The channel's orders, newest first; pass `next_cursor` back for the next page."""
        after = decode_cursor(cursor) if cursor else None
        orders, following = app.orders(channel, status, after, limit)
        return OrderPage(
            orders=[view(order) for order in orders],
            next_cursor=encode_cursor(following) if following else None,
        )

    @router.post(
        "/orders/{order_id}/cancel",
        response_model=OrderView,
        responses=problems(400, 404, 409, 413),
    )
    def cancel_order(
        order_id: UUID, request: CancelRequest | None = None, channel: str = authenticated
    ) -> OrderView:
        """Cancel an order that has not begun shipping; 409 says why not."""
        detail = request.detail if request else None
        try:
            return view(_found(lambda: app.cancel(channel, order_id, detail)))
        except Conflict as refused:
            raise HTTPException(409, str(refused)) from None

    return router


def _found(find: Callable[[], Order]) -> Order:
    try:
        return find()
    except NotFound as missing:
        raise HTTPException(404, str(missing)) from None
