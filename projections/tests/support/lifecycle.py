"""Every event of one order's life, as the services publish them: placed, reserved, paid, split
over two warehouses, shipped, invoiced, delivered, completed; times one second apart."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from orderflow.schemas.envelope import Message
from orderflow.schemas.registry import LATEST

_positions = itertools.count(1)
_invoice_numbers = itertools.count(1)  # one series, as billing's: never two orders' invoices alike


def lifecycle(order_id: UUID, start: datetime | None = None) -> list[Message]:
    at = start or datetime(2026, 11, 26, 10, tzinfo=UTC)
    berlin, paris = uuid4(), uuid4()
    money = lambda amount: {"amount": amount, "currency": "EUR"}  # noqa: E731
    document = {
        "lines": [
            {
                "description": "SKU-1",
                "sku": "SKU-1",
                "quantity": 1,
                "tax_rate": "0.19",
                "net": money("16.80"),
                "tax": money("3.19"),
                "gross": money("19.99"),
            }
        ],
        "taxes": [{"rate": "0.19", "net": money("16.80"), "tax": money("3.19")}],
        "net": money("16.80"),
        "tax": money("3.19"),
        "gross": money("19.99"),
        "issued_on": "2026-11-26",
        "due_on": "2026-12-10",
    }
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (
            "OrderPlaced",
            "intake",
            {
                "channel": "web",
                "external_id": f"ext-{order_id}",
                "payment_token": "tok_ok",
                "customer": {"id": "c-1", "email": "ada@example.com", "name": "Ada"},
                "shipping_address": {
                    "line1": "1 Main St",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": money("19.99")}],
                "shipping_fee": money("0.00"),
                "total": money("39.98"),
            },
        ),
        (
            "StockReserved",
            "inventory",
            {
                "reservation_id": uuid4(),
                "expires_at": at + timedelta(minutes=15),
                "allocations": [
                    {"warehouse": w, "sku": "SKU-1", "quantity": 1} for w in ("berlin", "paris")
                ],
            },
        ),
        ("PaymentAuthorized", "billing", {"payment_id": uuid4(), "amount": money("39.98")}),
        *[
            (
                "ShipmentCreated",
                "fulfillment",
                {"shipment_id": s, "warehouse": w, "lines": [{"sku": "SKU-1", "quantity": 1}]},
            )
            for s, w in ((berlin, "berlin"), (paris, "paris"))
        ],
        *[
            (
                "Shipped",
                "fulfillment",
                {
                    "shipment_id": s,
                    "warehouse": w,
                    "lines": [{"sku": "SKU-1", "quantity": 1}],
                    "carrier": "Sandbox Parcel",
                    "tracking_number": f"SB{n}",
                    "tracking_url": f"https://track.example/SB{n}",
                },
            )
            for n, (s, w) in enumerate(((berlin, "berlin"), (paris, "paris")))
        ],
        *[
            (
                "Invoiced",
                "billing",
                {
                    **document,
                    "invoice_id": uuid4(),
                    "shipment_id": s,
                    "invoice_number": f"INV-2026-{next(_invoice_numbers) % 1_000_000:06d}",
                },
            )
            for s in (berlin, paris)
        ],
        *[("Delivered", "fulfillment", {"shipment_id": s}) for s in (berlin, paris)],
        ("OrderCompleted", "intake", {}),
    ]
    return [
        LATEST[kind].model_validate(
            {
                "source": source,
                "source_position": next(_positions),
                "correlation_id": order_id,
                "order_id": order_id,
                "occurred_at": at + timedelta(seconds=n),
                **fields,
            },
            strict=False,
        )
        for n, (kind, source, fields) in enumerate(steps)
    ]
