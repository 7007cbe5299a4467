"""The project's Kafka topics. Names are a public contract: analytics teams consume them."""

from __future__ import annotations

from orderflow.schemas.envelope import Message, order_id_of
from orderflow.schemas.orders import OrderSubmitted

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

#: The topic each message type is published on, by its publisher.
PUBLISHED_ON: dict[str, str] = {
    "OrderSubmitted": CHANNEL_ORDERS,
    "OrderPlaced": ORDER_EVENTS,
    "OrderRejected": ORDER_EVENTS,
    "OrderCancelled": ORDER_EVENTS,
    "OrderCompleted": ORDER_EVENTS,
    "StockReserved": INVENTORY_EVENTS,
    "StockReservationFailed": INVENTORY_EVENTS,
    "StockReleased": INVENTORY_EVENTS,
    "StockReceived": INVENTORY_EVENTS,
    "LowStockDetected": INVENTORY_EVENTS,
    "BackorderFilled": INVENTORY_EVENTS,
    "PaymentAuthorized": BILLING_EVENTS,
    "PaymentDeclined": BILLING_EVENTS,
    "Invoiced": BILLING_EVENTS,
    "CreditNoteIssued": BILLING_EVENTS,
    "ShipmentCreated": FULFILLMENT_EVENTS,
    "Shipped": FULFILLMENT_EVENTS,
    "Delivered": FULFILLMENT_EVENTS,
    "FulfillmentStopped": FULFILLMENT_EVENTS,
    "ShipmentRefused": FULFILLMENT_EVENTS,
}
#: Messages that other systems publish to us: an ERP posts receipts as StockReceived.
INBOUND_ON: dict[str, tuple[str, ...]] = {ERP_STOCK: ("StockReceived",)}
#: The topics other systems write to (our relays write the rest, contract-checked).
INBOUND_TOPICS: frozenset[str] = frozenset({CHANNEL_ORDERS, *INBOUND_ON})


def topic_of(message: Message) -> str:
    return PUBLISHED_ON[message.type]


def key_of(message: Message) -> str:
    """The partition key: the order, so one order's events stay in order within a topic;
    the SKU for stock-only events; the channel's own order id for submissions."""
    order_id = order_id_of(message)
    if order_id is not None:
        return str(order_id)
    if isinstance(message, OrderSubmitted):
        return f"{message.channel}:{message.external_id}"
    sku = vars(message).get("sku")  # as order_id_of: no AttributeError for a missing field
    if sku is None:
        raise ValueError(f"{message.type} has no order id, submission id or SKU to key by")
    return str(sku)
