"""Fulfillment's events: one shipment per warehouse of the allocation."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from orderflow.schemas.common import Identifier, SkuQuantity, Text
from orderflow.schemas.envelope import IntegrationEvent

ShipmentLines = Annotated[list[SkuQuantity], Field(min_length=1, max_length=100)]
HttpsUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s]+$")]


class ShipmentCreated(IntegrationEvent):
    type: Literal["ShipmentCreated"] = "ShipmentCreated"
    version: Literal[1] = 1
    order_id: UUID
    shipment_id: UUID
    warehouse: Identifier
    lines: ShipmentLines


class Shipped(IntegrationEvent):
    type: Literal["Shipped"] = "Shipped"
    version: Literal[1] = 1
    order_id: UUID
    shipment_id: UUID
    warehouse: Identifier
    lines: ShipmentLines
    carrier: Text
    tracking_number: Identifier
    tracking_url: HttpsUrl


class Delivered(IntegrationEvent):
    type: Literal["Delivered"] = "Delivered"
    version: Literal[1] = 1
    order_id: UUID
    shipment_id: UUID
