"""Inventory's domain events out as integration events. Holds, releases and shipments of one
SKU stay private: others learn of them through the order's reservation."""

from __future__ import annotations

from typing import Any

from orderflow.inventory.domain import Reservation, SkuStock
from orderflow.runtime.translation import translator
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.inventory import (
    BackorderFilled,
    LowStockDetected,
    StockReceived,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)

SOURCE = "inventory"


def _made(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    if domain_event.short_lines:
        return StockReservationFailed.model_validate(
            {
                **envelope,
                "order_id": domain_event.order_id,
                "short_lines": domain_event.short_lines,
            },
            strict=False,
        )
    return StockReserved.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "reservation_id": domain_event.originator_id,
            "allocations": domain_event.allocations,
            "expires_at": domain_event.expires_at,
        },
        strict=False,
    )


def _released(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return StockReleased.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "reservation_id": domain_event.originator_id,
            "reason": domain_event.reason,
            "allocations": domain_event.allocations,
        },
        strict=False,
    )


def _filled(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return BackorderFilled.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "reservation_id": domain_event.originator_id,
            "fill": domain_event.fill,
            "allocations": domain_event.allocations,
        },
        strict=False,
    )


def _received(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return StockReceived(
        **envelope,
        sku=domain_event.sku,
        warehouse=domain_event.warehouse,
        quantity=domain_event.quantity,
        reference=domain_event.reference,
    )


def _low(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return LowStockDetected(
        **envelope,
        sku=domain_event.sku,
        warehouse=domain_event.warehouse,
        available=domain_event.available,
        threshold=domain_event.threshold,
    )


translate = translator(
    SOURCE,
    {
        f"{Reservation.__name__}.Made": _made,
        f"{Reservation.__name__}.Released": _released,
        f"{Reservation.__name__}.BackorderFilled": _filled,
        f"{SkuStock.__name__}.Received": _received,
        f"{SkuStock.__name__}.LowStockDetected": _low,
    },
)
