"""What the tracking API answers, as pydantic models (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Step(BaseModel):
    type: str  # the event type: OrderPlaced, StockReserved, Shipped, ...
    at: str  # UTC, ISO 8601


class ShipmentView(BaseModel):
    shipment_id: str
    warehouse: str | None
    state: str = Field(
        description="created, shipped, delivered, cancelled (stopped before it left), or"
        " exception (the carrier refused it: see `problem`)"
    )
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    problem: str | None = Field(
        None, description="the carrier's reason, if it refused the parcel (kept once cancelled)"
    )


class Amount(BaseModel):
    amount: str
    currency: str


class InvoiceView(BaseModel):
    number: str
    shipment_id: str
    gross: Amount
    issued_on: str


class TrackingView(BaseModel):
    """An order as its channel sees it."""

    order_id: str
    external_id: str | None
    status: str
    total: Amount | None
    updated_at: str
    timeline: list[Step]
    shipments: list[ShipmentView]
    invoices: list[InvoiceView]


class PublicTrackingView(BaseModel):
    """An order as its customer sees it: no amounts, no invoices."""

    order_id: str
    status: str
    updated_at: str
    timeline: list[Step]
    shipments: list[ShipmentView]


def public(tracked: dict[str, Any]) -> PublicTrackingView:
    return PublicTrackingView.model_validate(tracked, from_attributes=False)
