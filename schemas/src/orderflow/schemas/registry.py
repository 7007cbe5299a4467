"""Every message shape we have ever released, by (type, version), and the latest of each."""

from __future__ import annotations

from orderflow.schemas import billing, fulfillment, inventory, orders
from orderflow.schemas.envelope import Message
from orderflow.schemas.upcasters import UPCASTERS, Payload

#: Released shapes, oldest version first. Removing one breaks replay of stored events.
MESSAGES: tuple[type[Message], ...] = (
    orders.OrderSubmitted,
    orders.OrderPlacedV1,
    orders.OrderPlaced,
    orders.OrderRejected,
    orders.OrderCancelled,
    orders.OrderCompleted,
    inventory.StockReserved,
    inventory.StockReservationFailed,
    inventory.StockReleased,
    inventory.StockReceived,
    inventory.LowStockDetected,
    inventory.BackorderFilled,
    billing.PaymentAuthorized,
    billing.PaymentDeclined,
    billing.Invoiced,
    billing.CreditNoteIssued,
    fulfillment.ShipmentCreated,
    fulfillment.Shipped,
    fulfillment.Delivered,
    fulfillment.FulfillmentStopped,
    fulfillment.ShipmentRefused,
)

BY_TYPE_AND_VERSION: dict[tuple[str, int], type[Message]] = {
    (cls.event_type(), cls.event_version()): cls for cls in MESSAGES
}
LATEST: dict[str, type[Message]] = {}
for _cls in MESSAGES:
    _known = LATEST.get(_cls.event_type())
    if _known is None or _known.event_version() < _cls.event_version():
        LATEST[_cls.event_type()] = _cls


def upcast(event_type: str, payload: Payload) -> Payload:
    """Apply upcasters until the payload has the latest version of its type."""
    latest = LATEST[event_type].event_version()
    while payload["version"] < latest:
        step = UPCASTERS.get((event_type, payload["version"]))
        if step is None:
            raise LookupError(f"no upcaster for {event_type} v{payload['version']}")
        payload = step(payload)
    return payload
