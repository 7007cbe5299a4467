"""Messages inventory reacts to, as the other services would send them."""

from __future__ import annotations

import itertools
from decimal import Decimal
from uuid import UUID, uuid4

from orderflow.schemas.billing import PaymentAuthorized
from orderflow.schemas.fulfillment import FulfillmentStopped, Shipped
from orderflow.schemas.inventory import StockReceived
from orderflow.schemas.orders import OrderCancelled, OrderPlaced

_positions = itertools.count(1)


def _envelope(source: str) -> dict[str, object]:
    return {"source": source, "source_position": next(_positions), "correlation_id": uuid4()}


def order_placed(order_id: UUID, lines: dict[str, int]) -> OrderPlaced:
    price = {"amount": "10.00", "currency": "EUR"}
    total = Decimal("10.00") * sum(lines.values())
    return OrderPlaced.model_validate(
        {
            **_envelope("intake"),
            "order_id": order_id,
            "channel": "web",
            "external_id": f"ext-{order_id}",
            "customer": {"id": "c-1", "email": "ada@example.com", "name": "Ada"},
            "shipping_address": {
                "line1": "1 Main St",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "lines": [{"sku": sku, "quantity": q, "unit_price": price} for sku, q in lines.items()],
            "shipping_fee": {"amount": "0.00", "currency": "EUR"},
            "payment_token": "tok_ok",
            "total": {"amount": str(total), "currency": "EUR"},
        },
        strict=False,
    )


def received(sku: str, warehouse: str, quantity: int) -> StockReceived:
    return StockReceived(
        **_envelope("erp"),
        sku=sku,
        warehouse=warehouse,
        quantity=quantity,  # type: ignore[arg-type]
        reference=f"erp-{uuid4().hex[:8]}",
    )


def authorized(order_id: UUID) -> PaymentAuthorized:
    return PaymentAuthorized.model_validate(
        {
            **_envelope("billing"),
            "order_id": order_id,
            "payment_id": uuid4(),
            "amount": {"amount": "20.00", "currency": "EUR"},
        },
        strict=False,
    )


def cancelled(order_id: UUID) -> OrderCancelled:
    return OrderCancelled(**_envelope("intake"), order_id=order_id, reason="customer_request")  # type: ignore[arg-type]


def stopped(order_id: UUID, went_ahead: list[UUID] | None = None) -> FulfillmentStopped:
    """Fulfillment's answer to the order's cancellation."""
    return FulfillmentStopped(
        **_envelope("fulfillment"),  # type: ignore[arg-type]
        order_id=order_id,
        stopped=[uuid4()],
        went_ahead=went_ahead or [],
    )


def shipped(order_id: UUID, warehouse: str, lines: dict[str, int]) -> Shipped:
    return Shipped.model_validate(
        {
            **_envelope("fulfillment"),
            "order_id": order_id,
            "shipment_id": uuid4(),
            "warehouse": warehouse,
            "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
            "carrier": "Sandbox Post",
            "tracking_number": "SP1",
            "tracking_url": "https://track.example/SP1",
        },
        strict=False,
    )
