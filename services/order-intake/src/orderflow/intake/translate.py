"""Domain events out as integration events: what other services may know of an order. Steps
that only matter here (a recorded shipment, an invoice) stay private."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from orderflow.intake.domain import Order, RejectedSubmission
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.orders import OrderCancelled, OrderCompleted, OrderPlaced, OrderRejected

SOURCE = "intake"


def _envelope(domain_event: Any, position: int) -> dict[str, Any]:
    # A stable event id: a republished event is the same event to analytics as well.
    stable = f"orderflow:{SOURCE}/{domain_event.originator_id}/{domain_event.originator_version}"
    return {
        "event_id": uuid5(NAMESPACE_URL, stable),
        "occurred_at": domain_event.timestamp,
        "source": SOURCE,
        "source_position": position,
        "correlation_id": domain_event.correlation_id,
        "causation_id": getattr(domain_event, "caused_by", None),
        "order_id": domain_event.originator_id,
    }


def _placed(domain_event: Any, envelope: dict[str, Any]) -> OrderPlaced:
    return OrderPlaced(
        **envelope,
        **domain_event.content,
        payment_token=domain_event.payment_token,
        total=domain_event.total,
    )


def _rejected(domain_event: Any, envelope: dict[str, Any]) -> OrderRejected:
    return OrderRejected(
        **envelope,
        channel=domain_event.channel,
        external_id=domain_event.external_id,
        reasons=domain_event.reasons,
    )


def _cancelled(domain_event: Any, envelope: dict[str, Any]) -> OrderCancelled:
    return OrderCancelled(**envelope, reason=domain_event.reason, detail=domain_event.detail)


def _completed(domain_event: Any, envelope: dict[str, Any]) -> OrderCompleted:
    return OrderCompleted(**envelope)


# By qualified name: the library makes each @event method's class, named after the event.
_PUBLISHED: dict[str, Callable[[Any, dict[str, Any]], IntegrationEvent]] = {
    f"{Order.__name__}.Placed": _placed,
    f"{Order.__name__}.Rejected": _rejected,
    f"{RejectedSubmission.__name__}.Recorded": _rejected,
    f"{Order.__name__}.Cancelled": _cancelled,
    f"{Order.__name__}.Completed": _completed,
}


def translate(domain_event: Any, position: int) -> IntegrationEvent | None:
    make = _PUBLISHED.get(type(domain_event).__qualname__)
    return make(domain_event, _envelope(domain_event, position)) if make else None
