"""Fulfillment's domain events out as integration events: shipments created, shipped and
delivered. Steps inside the warehouse (picked, packed) and exceptions stay private."""

from __future__ import annotations

from typing import Any

from orderflow.fulfillment.domain import Shipment
from orderflow.runtime.translation import translator
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.fulfillment import Delivered, ShipmentCreated, Shipped

SOURCE = "fulfillment"


def _lines(lines: dict[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in sorted(lines.items())]


def _created(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return ShipmentCreated.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "shipment_id": domain_event.originator_id,
            "warehouse": domain_event.warehouse,
            "lines": _lines(domain_event.lines),
        },
        strict=False,
    )


def _shipped(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return Shipped.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "shipment_id": domain_event.originator_id,
            "warehouse": domain_event.warehouse,
            "lines": _lines(domain_event.lines),
            **domain_event.carrier,
        },
        strict=False,
    )


def _delivered(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return Delivered(
        **envelope, order_id=domain_event.order_id, shipment_id=domain_event.originator_id
    )


translate = translator(
    SOURCE,
    {
        f"{Shipment.__name__}.Created": _created,
        f"{Shipment.__name__}.Shipped": _shipped,
        f"{Shipment.__name__}.Delivered": _delivered,
    },
)
