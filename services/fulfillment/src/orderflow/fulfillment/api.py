"""Fulfillment's API: shipments by id and by order, moved by hand (pick, pack, ship), and the
carrier's delivery webhook, signed with HMAC-SHA256 over the raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, ValidationError

from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.domain import IllegalTransition, Shipment
from orderflow.runtime.settings import Settings
from orderflow.schemas.common import Identifier
from orderflow.schemas.model import Model

SIGNATURE_HEADER = "X-Carrier-Signature"


class ShipmentView(BaseModel):
    shipment_id: UUID
    order_id: UUID
    warehouse: str
    state: str
    lines: dict[str, int]
    carrier: dict[str, str] | None
    problem: str | None


class CarrierNews(Model):
    """What the carrier tells us: our shipment (the reference we booked it with) was delivered."""

    reference: UUID
    tracking_number: Identifier
    status: Literal["delivered"]


class Problem(BaseModel):
    detail: str


def view(shipment: Shipment) -> ShipmentView:
    return ShipmentView(
        shipment_id=shipment.id,
        order_id=shipment.order_id,
        warehouse=shipment.warehouse,
        state=shipment.state,
        lines=shipment.lines,
        carrier=shipment.carrier,
        problem=shipment.problem,
    )


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def routes(app: Fulfillment, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["fulfillment"])
    refused: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}}

    def move(shipment_id: UUID, to: str) -> ShipmentView:
        try:
            return view(app.move(shipment_id, to))
        except LookupError:
            raise HTTPException(404, f"no shipment {shipment_id}") from None
        except IllegalTransition as illegal:
            raise HTTPException(409, str(illegal)) from None

    @router.get("/shipments/{shipment_id}", response_model=ShipmentView, responses=refused)
    def shipment(shipment_id: UUID) -> ShipmentView:
        found = app.shipment(shipment_id)
        if found is None:
            raise HTTPException(404, f"no shipment {shipment_id}")
        return view(found)

    @router.get(
        "/orders/{order_id}/shipments", response_model=list[ShipmentView], responses=refused
    )
    def order_shipments(order_id: UUID) -> list[ShipmentView]:
        found = app.shipments_of(order_id)
        if found is None:
            raise HTTPException(404, f"fulfillment knows no order {order_id}")
        return [view(s) for s in found]

    @router.post("/shipments/{shipment_id}/pick", response_model=ShipmentView, responses=refused)
    def pick(shipment_id: UUID) -> ShipmentView:
        return move(shipment_id, "picked")

    @router.post("/shipments/{shipment_id}/pack", response_model=ShipmentView, responses=refused)
    def pack(shipment_id: UUID) -> ShipmentView:
        return move(shipment_id, "packed")

    @router.post("/shipments/{shipment_id}/ship", response_model=ShipmentView, responses=refused)
    def ship(shipment_id: UUID) -> ShipmentView:
        """Book the carrier and hand the parcel over; 409 unless packed."""
        return move(shipment_id, "shipped")

    @router.post(
        "/carrier/webhook",
        response_model=ShipmentView,
        responses={**refused, 401: {"model": Problem}, 422: {"model": Problem}},
    )
    async def carrier_webhook(
        request: Request,
        signed: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
    ) -> ShipmentView:
        """Delivery news from the carrier. The body must be signed: header
        `X-Carrier-Signature: sha256=<hex HMAC-SHA256 of the body with the shared secret>`;
        a bad or missing signature is 401 and changes nothing. A replay is harmless."""
        body = await request.body()
        expected = signature(settings.carrier_webhook_secret, body)
        # as bytes: compare_digest refuses a str with a non-ASCII character (a header's bytes)
        if signed is None or not hmac.compare_digest(signed.encode("latin-1"), expected.encode()):
            raise HTTPException(401, "missing or bad carrier signature")
        try:
            news = CarrierNews.model_validate(json.loads(body), strict=False)
        except (ValueError, RecursionError, ValidationError) as bad:  # JSON nested too deep
            raise HTTPException(422, f"not a carrier delivery notice: {bad}") from None
        return delivered(app, news)

    return router


def delivered(app: Fulfillment, news: CarrierNews) -> ShipmentView:
    found = app.shipment(news.reference)
    if found is None or (found.carrier or {}).get("tracking_number") != news.tracking_number:
        raise HTTPException(404, "no shipment with that reference and tracking number")
    if found.state == "delivered":
        return view(found)  # the carrier said it before: nothing changes
    try:
        return view(app.move(news.reference, "delivered"))
    except IllegalTransition as illegal:
        raise HTTPException(409, str(illegal)) from None
