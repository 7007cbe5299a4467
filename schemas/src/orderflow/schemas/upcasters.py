"""Upcasters: turn a payload of an older version into the next version's shape.

Each is a pure function on the JSON-ready dict, registered under (type, from_version). Decoding
applies them in a chain, so a v1 event read today comes out as the latest version."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from orderflow.schemas.money import minor_unit

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def order_placed_v1_to_v2(payload: Payload) -> Payload:
    """v2 added `total`: the lines plus the shipping fee, in the order's currency."""
    fee = payload["shipping_fee"]
    lines = sum(
        (Decimal(line["unit_price"]["amount"]) * line["quantity"] for line in payload["lines"]),
        start=Decimal(0),
    )
    step = Decimal(1).scaleb(-minor_unit(fee["currency"]))
    total = (lines + Decimal(fee["amount"])).quantize(step)
    return {**payload, "version": 2, "total": {"amount": str(total), "currency": fee["currency"]}}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("OrderPlaced", 1): order_placed_v1_to_v2,
}
