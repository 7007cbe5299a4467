"""Fulfillment's domain events out as integration events: shipments created, shipped,
delivered and refused by the carrier, and what a cancellation stopped. Steps inside the
warehouse (picked, packed) stay private, and so do refusals stored by earlier versions, which
published none."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from orderflow.fulfillment.domain import Dispatch, Shipment
from orderflow.runtime.translation import translator
from orderflow.schemas.common import LONG_TEXT
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.fulfillment import (
    Delivered,
    FulfillmentStopped,
    ShipmentCreated,
    ShipmentRefused,
    Shipped,
)

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


def _refused(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return ShipmentRefused(
        **envelope,
        order_id=domain_event.order_id,
        shipment_id=domain_event.originator_id,
        warehouse=domain_event.warehouse,
        # a carrier's words, held to the contract's length: the relay must never be stuck on them
        reason=(domain_event.problem or "the carrier refused the parcel")[:LONG_TEXT],
    )


def _stopped(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return FulfillmentStopped(
        **envelope,
        order_id=domain_event.order_id,
        stopped=[UUID(s) for s in domain_event.stopped],
        went_ahead=[UUID(s) for s in domain_event.went_ahead],
    )


translate = translator(
    SOURCE,
    {
        f"{Shipment.__name__}.Created": _created,
        f"{Shipment.__name__}.Shipped": _shipped,
        f"{Shipment.__name__}.Delivered": _delivered,
        f"{Shipment.__name__}.Refused": _refused,
        f"{Dispatch.__name__}.Stopped": _stopped,
    },
)
