"""The reservation clock: a worker in the service process that releases reservations whose
payment did not come in time. Due reservations are found through the index stored with the
events, so a restart loses none. One instance's clock looks at a time (a lease, see
`orderflow.runtime.lease`); should two ever look at once (the lease changing hands), the store's
version check lets one of them release each reservation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from uuid import UUID

import structlog
from eventsourcing.application import Application

from orderflow.inventory.application import Inventory
from orderflow.runtime.lease import lease_for
from orderflow.runtime.retry import is_transient

log = structlog.get_logger("orderflow.inventory.expiry")
TICK_S = 0.5


def expire_reservations(app: Application[UUID], stopping: threading.Event) -> None:
    assert isinstance(app, Inventory)
    lease = lease_for(app, "inventory-expiry")  # one instance's clock looks, not every one's
    try:
        while not stopping.wait(TICK_S):
            try:
                released = app.expire_due(datetime.now(UTC)) if lease.hold() else 0
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("expiry waits for the store", error=str(error))
                continue
            if released:
                log.info("reservations expired", count=released)
    finally:
        lease.close()
