"""Messages billing reacts to, as order intake, inventory and fulfillment would send them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from orderflow.billing.payments import APPROVE
from orderflow.schemas.fulfillment import FulfillmentStopped, Shipped
from orderflow.schemas.inventory import StockReserved
from orderflow.schemas.orders import OrderCancelled, OrderPlaced

_positions = itertools.count(1)
PRICES = {"SKU-1": "19.99", "BOOK-1": "12.50"}


def _envelope(source: str) -> dict[str, object]:
    return {"source": source, "source_position": next(_positions), "correlation_id": uuid4()}


def order_placed(
    order_id: UUID, lines: dict[str, int], token: str = APPROVE, fee: str = "4.90"
) -> OrderPlaced:
    total = sum((Decimal(PRICES[s]) * q for s, q in lines.items()), Decimal(fee))
    return OrderPlaced.model_validate(
        {
            **_envelope("intake"),
            "order_id": order_id,
            "channel": "web",
            "external_id": f"ext-{order_id}",
            "customer": {"id": "c-42", "email": "ada@example.com", "name": "Ada Lovelace"},
            "shipping_address": {
                "line1": "1 Main St",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "lines": [
                {"sku": s, "quantity": q, "unit_price": {"amount": PRICES[s], "currency": "EUR"}}
                for s, q in lines.items()
            ],
            "shipping_fee": {"amount": fee, "currency": "EUR"},
            "payment_token": token,
            "total": {"amount": str(total), "currency": "EUR"},
        },
        strict=False,
    )


def stock_reserved(order_id: UUID, lines: dict[str, int]) -> StockReserved:
    return StockReserved.model_validate(
        {
            **_envelope("inventory"),
            "order_id": order_id,
            "reservation_id": uuid4(),
            "allocations": [
                {"warehouse": "berlin", "sku": s, "quantity": q} for s, q in lines.items()
            ],
            "expires_at": datetime.now(UTC) + timedelta(minutes=15),
        },
        strict=False,
    )


def shipped(order_id: UUID, lines: dict[str, int]) -> Shipped:
    return Shipped.model_validate(
        {
            **_envelope("fulfillment"),
            "order_id": order_id,
            "shipment_id": uuid4(),
            "warehouse": "berlin",
            "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
            "carrier": "Sandbox Post",
            "tracking_number": "SP1",
            "tracking_url": "https://track.example/SP1",
        },
        strict=False,
    )


def cancelled(order_id: UUID) -> OrderCancelled:
    return OrderCancelled(**_envelope("intake"), order_id=order_id, reason="customer_request")  # type: ignore[arg-type]


def stopped(order_id: UUID, went_ahead: list[UUID] | None = None) -> FulfillmentStopped:
    """Fulfillment's answer to the order's cancellation: what had already left goes on."""
    return FulfillmentStopped(
        **_envelope("fulfillment"),  # type: ignore[arg-type]
        order_id=order_id,
        stopped=[],
        went_ahead=went_ahead or [],
    )
