"""Order intake, wired: its store, the topics it reacts to, what it publishes and its API."""

from __future__ import annotations

from orderflow.intake.api import routes
from orderflow.intake.application import Intake
from orderflow.intake.policies import HANDLERS, finds, rescue
from orderflow.intake.translate import SOURCE, translate
from orderflow.runtime.spec import ServiceSpec
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    CHANNEL_ORDERS,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

SERVICE = ServiceSpec(
    name=SOURCE,
    application=lambda env, _: Intake(env=dict(env)),
    consumes=[CHANNEL_ORDERS, INVENTORY_EVENTS, BILLING_EVENTS, FULFILLMENT_EVENTS],
    handlers=HANDLERS,
    finds=finds,
    translate=translate,
    publishes_to=[ORDER_EVENTS],
    routes=routes,  # type: ignore[arg-type]
    port_setting="intake_port",
    rescue=rescue,
)
