"""Domain events out as integration events: what other services may know of an order. Steps
that only matter here (a recorded shipment, an invoice) stay private."""

from __future__ import annotations

from typing import Any

from orderflow.intake.domain import Order, RejectedSubmission
from orderflow.runtime.translation import translator
from orderflow.schemas.orders import OrderCancelled, OrderCompleted, OrderPlaced, OrderRejected

SOURCE = "intake"


def _order(domain_event: Any, envelope: dict[str, Any]) -> dict[str, Any]:
    return {**envelope, "order_id": domain_event.originator_id}


def _placed(domain_event: Any, envelope: dict[str, Any]) -> OrderPlaced:
    return OrderPlaced(
        **_order(domain_event, envelope),
        **domain_event.content,
        payment_token=domain_event.payment_token,
        total=domain_event.total,
    )


def _rejected(domain_event: Any, envelope: dict[str, Any]) -> OrderRejected:
    return OrderRejected(
        **_order(domain_event, envelope),
        channel=domain_event.channel,
        external_id=domain_event.external_id,
        reasons=domain_event.reasons,
    )


def _cancelled(domain_event: Any, envelope: dict[str, Any]) -> OrderCancelled:
    return OrderCancelled(
        **_order(domain_event, envelope), reason=domain_event.reason, detail=domain_event.detail
    )


def _completed(domain_event: Any, envelope: dict[str, Any]) -> OrderCompleted:
    return OrderCompleted(**_order(domain_event, envelope))


translate = translator(
    SOURCE,
    {
        f"{Order.__name__}.Placed": _placed,
        f"{Order.__name__}.Rejected": _rejected,
        f"{RejectedSubmission.__name__}.Recorded": _rejected,
        f"{Order.__name__}.Cancelled": _cancelled,
        f"{Order.__name__}.Completed": _completed,
    },
)
