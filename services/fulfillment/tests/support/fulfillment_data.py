"""Messages fulfillment reacts to: an order split over two warehouses, as intake, inventory and
billing would announce it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from orderflow.schemas.billing import PaymentAuthorized
from orderflow.schemas.inventory import BackorderFilled, StockReserved
from orderflow.schemas.orders import OrderCancelled, OrderPlaced

_positions = itertools.count(1)
SPLIT = {"berlin": {"SKU-1": 2}, "paris": {"BOOK-1": 1}}


def _envelope(source: str) -> dict[str, object]:
    return {"source": source, "source_position": next(_positions), "correlation_id": uuid4()}


def order_placed(order_id: UUID, postal_code: str = "10115") -> OrderPlaced:
    prices = {"SKU-1": "19.99", "BOOK-1": "12.50"}
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
                "postal_code": postal_code,
                "country": "DE",
            },
            "lines": [
                {
                    "sku": "SKU-1",
                    "quantity": 2,
                    "unit_price": {"amount": prices["SKU-1"], "currency": "EUR"},
                },
                {
                    "sku": "BOOK-1",
                    "quantity": 1,
                    "unit_price": {"amount": prices["BOOK-1"], "currency": "EUR"},
                },
            ],
            "shipping_fee": {"amount": "4.90", "currency": "EUR"},
            "payment_token": "tok_ok",
            "total": {"amount": "57.38", "currency": "EUR"},
        },
        strict=False,
    )


def stock_reserved(order_id: UUID, backordered: frozenset[str] = frozenset()) -> StockReserved:
    """The split allocation; the SKUs in `backordered` wait for stock still to come."""
    return StockReserved.model_validate(
        {
            **_envelope("inventory"),
            "order_id": order_id,
            "reservation_id": uuid4(),
            "allocations": [
                {"warehouse": wh, "sku": sku, "quantity": q, "backordered": sku in backordered}
                for wh, lines in SPLIT.items()
                for sku, q in lines.items()
            ],
            "expires_at": datetime.now(UTC) + timedelta(minutes=15),
        },
        strict=False,
    )


def backorder_filled(order_id: UUID, fill: int, sku: str, quantity: int) -> BackorderFilled:
    warehouse = next(wh for wh, lines in SPLIT.items() if sku in lines)
    return BackorderFilled.model_validate(
        {
            **_envelope("inventory"),
            "order_id": order_id,
            "reservation_id": uuid4(),
            "fill": fill,
            "allocations": [{"warehouse": warehouse, "sku": sku, "quantity": quantity}],
        },
        strict=False,
    )


def payment_authorized(order_id: UUID) -> PaymentAuthorized:
    return PaymentAuthorized.model_validate(
        {
            **_envelope("billing"),
            "order_id": order_id,
            "payment_id": uuid4(),
            "amount": {"amount": "57.38", "currency": "EUR"},
        },
        strict=False,
    )


def cancelled(order_id: UUID) -> OrderCancelled:
    return OrderCancelled(**_envelope("intake"), order_id=order_id, reason="customer_request")  # type: ignore[arg-type]
