"""Inventory's events. Stock-only events (receipts, low stock) are keyed by SKU, not order."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from orderflow.schemas.common import Identifier, Quantity, Sku, StockLevel, Text, UtcDatetime
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.model import Model


class Allocation(Model):
    warehouse: Identifier
    sku: Sku
    quantity: Quantity
    backordered: bool = False  # reserved against incoming stock


class ShortLine(Model):
    sku: Sku
    requested: Quantity
    available: StockLevel


Allocations = Annotated[list[Allocation], Field(min_length=1, max_length=500)]


class StockReserved(IntegrationEvent):
    type: Literal["StockReserved"] = "StockReserved"
    version: Literal[1] = 1
    order_id: UUID
    reservation_id: UUID
    allocations: Allocations
    expires_at: UtcDatetime


class StockReservationFailed(IntegrationEvent):
    type: Literal["StockReservationFailed"] = "StockReservationFailed"
    version: Literal[1] = 1
    order_id: UUID
    short_lines: Annotated[list[ShortLine], Field(min_length=1, max_length=100)]


class StockReleased(IntegrationEvent):
    type: Literal["StockReleased"] = "StockReleased"
    version: Literal[1] = 1
    order_id: UUID
    reservation_id: UUID
    reason: Literal["expired", "cancelled", "payment_declined"]
    allocations: Allocations


class BackorderFilled(IntegrationEvent):
    """Stock arrived for units an order had backordered: they are now reserved from stock on
    hand and can ship. `fill` counts this order's fills from 1; a receipt that covers only
    part of a backorder gives one fill now and another when more arrives."""

    type: Literal["BackorderFilled"] = "BackorderFilled"
    version: Literal[1] = 1
    order_id: UUID
    reservation_id: UUID
    fill: Annotated[int, Field(ge=1)]
    allocations: Allocations  # the units filled, none of them backordered any more


class StockReceived(IntegrationEvent):
    """Goods arrived at a warehouse: from the inventory API, or an ERP on `erp.stock`."""

    type: Literal["StockReceived"] = "StockReceived"
    version: Literal[1] = 1
    sku: Sku
    warehouse: Identifier
    quantity: Quantity
    reference: Text | None = None  # the delivery note or ERP document


class LowStockDetected(IntegrationEvent):
    type: Literal["LowStockDetected"] = "LowStockDetected"
    version: Literal[1] = 1
    sku: Sku
    warehouse: Identifier
    available: StockLevel
    threshold: StockLevel
