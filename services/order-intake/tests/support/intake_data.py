"""Test data for order intake: channel submissions and the request bodies of POST /orders."""

from __future__ import annotations

from typing import Any

from orderflow.schemas.orders import OrderSubmitted


def body(external_id: str = "web-1001", **overrides: Any) -> dict[str, Any]:
    """The README's example body of POST /orders."""
    return {
        "external_id": external_id,
        "customer": {"id": "c-42", "email": "ada@example.com", "name": "Ada Lovelace"},
        "shipping_address": {
            "line1": "1 Main St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "lines": [
            {"sku": "SKU-001", "quantity": 2, "unit_price": {"amount": "19.99", "currency": "EUR"}},
            {"sku": "SKU-002", "quantity": 1, "unit_price": {"amount": "5.00", "currency": "EUR"}},
        ],
        "shipping_fee": {"amount": "4.90", "currency": "EUR"},
        "payment": {"token": "tok_ok"},
        **overrides,
    }


def submission(
    external_id: str = "web-1001", channel: str = "web", **overrides: Any
) -> OrderSubmitted:
    return OrderSubmitted.model_validate(
        {"channel": channel, **body(external_id, **overrides)}, strict=False
    )
