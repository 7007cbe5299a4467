"""Fulfillment, wired: its store, the topics it reacts to, the warehouse simulator, its API."""

from __future__ import annotations

from orderflow.fulfillment.api import routes
from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.policies import HANDLERS, finds
from orderflow.fulfillment.simulator import simulate_warehouse
from orderflow.fulfillment.translate import SOURCE, translate
from orderflow.runtime.spec import ServiceSpec
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

SERVICE = ServiceSpec(
    name=SOURCE,
    application=lambda env, settings: Fulfillment(env, settings),
    consumes=[ORDER_EVENTS, INVENTORY_EVENTS, BILLING_EVENTS],
    handlers=HANDLERS,
    finds=finds,
    translate=translate,
    publishes_to=[FULFILLMENT_EVENTS],
    routes=routes,  # type: ignore[arg-type]
    port_setting="fulfillment_port",
    workers=[simulate_warehouse],
)
