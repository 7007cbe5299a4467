"""The warehouse simulator: a worker in the fulfillment process that moves every shipment one
step at a time (pick, pack, ship with the carrier, deliver), each step once the previous is at
least `ORDERFLOW_WAREHOUSE_DELAY_S` old. Off (`ORDERFLOW_SIMULATE_WAREHOUSE=false`), people
and carrier webhooks move shipments instead. One instance's warehouse runs at a time, under a
lease (see `orderflow.runtime.lease`); the others ring it when they write."""

from __future__ import annotations

import threading
from uuid import UUID

import structlog
from eventsourcing.application import Application

from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.domain import NEXT
from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.lease import Lease, lease_for
from orderflow.runtime.retry import is_transient

log = structlog.get_logger("orderflow.fulfillment.simulator")
TICK_S = 0.2  # the longest wait for a round (a step's delay running out announces nothing)
#: With no delay between steps a shipment takes them all in the round its write wakes, so
#: nothing falls due between writes: the wait is only a safety net for a write it missed.
IDLE_TICK_S = 1.0
ROUND_GAP_S = 0.05  # the shortest time between rounds, so that busy rounds still batch


def simulate_warehouse(app: Application[UUID], stopping: threading.Event) -> None:
    assert isinstance(app, Fulfillment)
    if not app.settings.simulate_warehouse:
        stopping.wait()  # a worker that ends early reads as a dead thread to the host
        return
    # one instance's warehouse moves the shipments of all (on PostgreSQL): each instance's
    # rounds would otherwise race for the same shipments, and all but one lose on the version
    lease = lease_for(app, "fulfillment-warehouse")
    try:
        _run_rounds(app, lease, stopping)
    finally:
        lease.close()


def _run_rounds(app: Fulfillment, lease: Lease, stopping: threading.Event) -> None:
    cache = AggregateCache()  # this thread's own: a shipment is loaded once for its four steps
    writes, seen, held = app.recorder.writes, 0, False  # type: ignore[attr-defined]
    rung = writes.own
    tick = TICK_S if app.settings.warehouse_delay_s else IDLE_TICK_S
    while not stopping.wait(ROUND_GAP_S):
        # a new shipment is written by this process's consumer: start on it at once
        seen = writes.wait_after(seen, tick)
        try:
            if not lease.hold():
                held = False
                if writes.own != rung:  # this process's writes only (see `Writes`)
                    rung = writes.own
                    lease.ring()  # the holder's warehouse starts on this instance's shipments
                continue
            if not held:  # another instance's warehouse moved shipments meanwhile
                cache, held = AggregateCache(), True
            advance_all(app, cache)
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("simulator waits for the store", error=str(error))


def advance_all(app: Fulfillment, cache: AggregateCache | None = None) -> int:
    """One round: every shipment due for its next step takes it, in one transaction per step;
    with no delay between steps, every step left, all in one transaction."""
    delay = app.settings.warehouse_delay_s
    if delay == 0:
        due = [shipment for state in NEXT for shipment in app.due(state, 0)]
        return app.finish_all(due, cache) if due else 0
    moved = 0
    for state, to in NEXT.items():
        due = app.due(state, delay)
        if due:
            moved += app.move_all(due, to, cache)
    return moved
