"""Inventory, wired: its store, the topics it reacts to, the expiry clock and its API."""

from __future__ import annotations

from orderflow.inventory.api import routes
from orderflow.inventory.application import Inventory
from orderflow.inventory.expiry import expire_reservations
from orderflow.inventory.policies import HANDLERS, finds
from orderflow.inventory.translate import SOURCE, translate
from orderflow.runtime.spec import ServiceSpec
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    ERP_STOCK,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

SERVICE = ServiceSpec(
    name=SOURCE,
    application=lambda env, settings: Inventory(env, settings),
    consumes=[ORDER_EVENTS, BILLING_EVENTS, FULFILLMENT_EVENTS, ERP_STOCK],
    handlers=HANDLERS,
    finds=finds,
    translate=translate,
    publishes_to=[INVENTORY_EVENTS],
    routes=routes,  # type: ignore[arg-type]
    port_setting="inventory_port",
    workers=[expire_reservations],
)
