"""Fulfillment's events: one shipment per warehouse of the allocation, a parcel the carrier
refused, and what a cancellation stopped."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from orderflow.schemas.common import Identifier, LongText, SkuQuantity, Text
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


class ShipmentRefused(IntegrationEvent):
    """The carrier would not take the parcel: the shipment is an exception, for a person to
    resolve (cancelling the order stops it, and settles its stock and payment). The order
    itself does not move on it."""

    type: Literal["ShipmentRefused"] = "ShipmentRefused"
    version: Literal[1] = 1
    order_id: UUID
    shipment_id: UUID
    warehouse: Identifier
    reason: LongText


class FulfillmentStopped(IntegrationEvent):
    """Fulfillment's answer to an OrderCancelled: the shipments it stopped, and those that had
    already left and go on. On the order's partition it follows every Shipped of the order, and
    no shipment of the order is created or shipped after it, so inventory releases and billing
    voids on it knowing exactly what left."""

    type: Literal["FulfillmentStopped"] = "FulfillmentStopped"
    version: Literal[1] = 1
    order_id: UUID
    stopped: Annotated[list[UUID], Field(max_length=1000)]
    went_ahead: Annotated[list[UUID], Field(max_length=1000)]
