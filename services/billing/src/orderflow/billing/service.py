"""Billing, wired: its store, the topics it reacts to, what it publishes and its API."""

from __future__ import annotations

from orderflow.billing.api import routes
from orderflow.billing.application import Billing
from orderflow.billing.policies import HANDLERS, finds
from orderflow.billing.refunds import refund_credit_notes
from orderflow.billing.translate import SOURCE, translate
from orderflow.runtime.spec import ServiceSpec
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

SERVICE = ServiceSpec(
    name=SOURCE,
    application=lambda env, settings: Billing(env, settings),
    consumes=[ORDER_EVENTS, INVENTORY_EVENTS, FULFILLMENT_EVENTS],
    handlers=HANDLERS,
    finds=finds,
    translate=translate,
    publishes_to=[BILLING_EVENTS],
    routes=routes,  # type: ignore[arg-type]
    workers=[refund_credit_notes],
    port_setting="billing_port",
)
