"""The project's Kafka topics. Names are a public contract: analytics teams consume them."""

from __future__ import annotations

#: `OrderSubmitted` from high-volume sales channels (instead of HTTP).
CHANNEL_ORDERS = "channel.orders"
#: Each service's integration events, keyed by order id (SKU for stock-only events).
ORDER_EVENTS = "orders.events"
INVENTORY_EVENTS = "inventory.events"
BILLING_EVENTS = "billing.events"
FULFILLMENT_EVENTS = "fulfillment.events"
#: Stock receipts published by an ERP.
ERP_STOCK = "erp.stock"
#: Messages any consumer could not decode, validate or handle, with the reason.
DEAD_LETTERS = "orderflow.dead-letters"

ALL_TOPICS: tuple[str, ...] = (
    CHANNEL_ORDERS,
    ORDER_EVENTS,
    INVENTORY_EVENTS,
    BILLING_EVENTS,
    FULFILLMENT_EVENTS,
    ERP_STOCK,
    DEAD_LETTERS,
)
