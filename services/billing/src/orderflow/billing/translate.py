"""Billing's domain events out as integration events: payments, invoices, credit notes."""

from __future__ import annotations

from typing import Any

from orderflow.billing.domain import Account, Document
from orderflow.runtime.translation import translator
from orderflow.schemas.billing import (
    CreditNoteIssued,
    Invoiced,
    PaymentAuthorized,
    PaymentDeclined,
)
from orderflow.schemas.envelope import IntegrationEvent

SOURCE = "billing"


def _authorized(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return PaymentAuthorized.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "payment_id": domain_event.payment_id,
            "amount": domain_event.amount,
        },
        strict=False,
    )


def _declined(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    return PaymentDeclined.model_validate(
        {
            **envelope,
            "order_id": domain_event.order_id,
            "payment_id": domain_event.payment_id,
            "amount": domain_event.amount,
            "reason": domain_event.reason,
        },
        strict=False,
    )


def _issued(domain_event: Any, envelope: dict[str, Any]) -> IntegrationEvent:
    body = domain_event.body
    common = {
        **envelope,
        "order_id": domain_event.order_id,
        **{key: body[key] for key in ("lines", "taxes", "net", "tax", "gross", "issued_on")},
    }
    if domain_event.kind == "invoice":
        return Invoiced.model_validate(
            {
                **common,
                "invoice_id": domain_event.originator_id,
                "invoice_number": domain_event.number,
                "shipment_id": body["shipment_id"],
                "due_on": body["due_on"],
            },
            strict=False,
        )
    return CreditNoteIssued.model_validate(
        {
            **common,
            "credit_note_id": domain_event.originator_id,
            "credit_note_number": domain_event.number,
            "invoice_number": body["invoice_number"],
            "reason": body["reason"],
        },
        strict=False,
    )


translate = translator(
    SOURCE,
    {
        f"{Account.__name__}.PaymentAuthorized": _authorized,
        f"{Account.__name__}.PaymentDeclined": _declined,
        f"{Document.__name__}.Issued": _issued,
    },
)
