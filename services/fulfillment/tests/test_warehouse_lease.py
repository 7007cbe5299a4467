"""One fulfillment instance's warehouse simulator moves every instance's shipments, on both
stores: several would race for the same shipments, and each booked the carrier."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from fulfillment_data import order_placed, payment_authorized, stock_reserved

from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.carrier import SandboxCarrier
from orderflow.fulfillment.policies import HANDLERS
from orderflow.fulfillment.simulator import simulate_warehouse
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import store_for

pytestmark = pytest.mark.integration


class CountingCarrier(SandboxCarrier):
    def __init__(self) -> None:
        self.booked = Counter[UUID]()

    def book(self, shipment_id: UUID, address: dict[str, Any]) -> dict[str, str]:
        self.booked[shipment_id] += 1
        return super().book(shipment_id, address)


def test_one_of_two_fulfillment_processes_runs_the_warehouse(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given two fulfillment processes on one store, each with its simulator running
    settings = store_settings.model_copy(update={"warehouse_delay_s": 0})
    store = store_for(unique("ful"), settings)
    apps = [Fulfillment(store.env, settings, CountingCarrier()) for _ in range(2)]
    stopping = threading.Event()
    simulators = [threading.Thread(target=simulate_warehouse, args=(app, stopping)) for app in apps]
    for simulator in simulators:
        simulator.start()
    try:
        # when each process's consumer creates the shipments of orders of its own
        shipments = [shipment for app in apps for _ in range(4) for shipment in shipped(app)]

        # then every shipment is delivered
        wait_until(lambda: all(delivered(apps[0], shipment) for shipment in shipments))
    finally:
        stopping.set()
        for simulator in simulators:
            simulator.join(10)

    # and one process's warehouse booked the carrier, once per shipment
    bookings = [app.carrier.booked for app in apps]  # type: ignore[attr-defined]
    assert sorted(len(booked) for booked in bookings) == [0, len(shipments)]
    assert sum(bookings, Counter[UUID]()) == Counter(dict.fromkeys(shipments, 1))
    for app in apps:
        app.close()


def shipped(app: Fulfillment) -> list[UUID]:
    """The shipments of a new order, as the consumer creates them."""
    order = uuid4()
    apply_batch(
        app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
    )
    return [shipment.id for shipment in app.shipments_of(order) or []]


def delivered(app: Fulfillment, shipment_id: UUID) -> bool:
    shipment = app.shipment(shipment_id)
    return shipment is not None and shipment.state == "delivered"


def wait_until(condition: Callable[[], bool], within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
