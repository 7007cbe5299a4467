"""Inventory through a real broker, on both stores: receipts, all-or-nothing reservations that
prefer one warehouse, low stock once per crossing, release on cancellation, and expiry that
never touches a reservation whose payment was authorised."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from inventory_data import authorized, order_placed, received, stopped

from orderflow.inventory.application import Inventory
from orderflow.inventory.service import SERVICE
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.runtime.testkit import Outbox, Topics, of_type, publish, running
from orderflow.schemas.envelope import Message
from orderflow.schemas.inventory import (
    BackorderFilled,
    LowStockDetected,
    StockReceived,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    app: Inventory
    topics: Topics
    producer: Producer
    bootstrap: str

    def send(self, *messages: Message) -> None:
        publish(self.producer, self.topics.inbound, messages)

    def published(self, done: Callable[[list[Message]], bool]) -> list[Message]:
        return Outbox(self.bootstrap, self.topics.outbound).wait_for(done)


@pytest.fixture
def inventory(
    store: Store,
    store_settings: Settings,
    kafka_bootstrap: str,
    unique: Callable[[str], str],
    request: pytest.FixtureRequest,
) -> Iterator[Harness]:
    """Inventory on the test's own topics; a test marked `ttl(seconds)` gets that time-to-live."""
    marker = request.node.get_closest_marker("ttl")
    ttl = marker.args[0] if marker else 900.0
    settings = store_settings.model_copy(
        update={"reservation_ttl_s": ttl, "low_stock_threshold": 3}
    )
    app = Inventory(store.env, settings)
    topics = Topics(unique("in"), unique("inventory"), unique("dlq"))
    with running(SERVICE, app, kafka_bootstrap, topics, unique("group")):
        yield Harness(app, topics, new_producer(kafka_bootstrap), kafka_bootstrap)
    app.close()


def count(kind: type[Message], wanted: int) -> Callable[[list[Message]], bool]:
    return lambda seen: len(of_type(seen, kind)) >= wanted


def test_an_order_is_filled_from_one_warehouse_or_not_at_all(inventory: Harness) -> None:
    inventory.send(
        received("SKU-1", "berlin", 5), received("SKU-1", "paris", 5), received("SKU-2", "paris", 2)
    )
    inventory.published(count(StockReceived, 3))  # receipts first: they are keyed apart
    whole, too_big = uuid4(), uuid4()

    inventory.send(order_placed(whole, {"SKU-1": 4, "SKU-2": 1}))
    inventory.published(count(StockReserved, 1))  # orders are keyed apart too: one at a time
    inventory.send(order_placed(too_big, {"SKU-1": 7}))
    out = inventory.published(
        lambda seen: (
            bool(of_type(seen, StockReservationFailed)) and bool(of_type(seen, StockReserved))
        )
    )

    reserved = of_type(out, StockReserved)[0]
    assert isinstance(reserved, StockReserved)
    assert reserved.order_id == whole
    assert {(a.warehouse, a.sku, a.quantity) for a in reserved.allocations} == {
        ("paris", "SKU-1", 4),
        ("paris", "SKU-2", 1),
    }, "paris alone holds the whole order: one shipment"
    failed = of_type(out, StockReservationFailed)[0]
    assert isinstance(failed, StockReservationFailed)
    assert [(s.sku, s.requested, s.available) for s in failed.short_lines] == [("SKU-1", 7, 6)]
    stock = inventory.app.stock("SKU-1")
    assert stock is not None
    assert (stock.reserved("paris"), stock.reserved("berlin")) == (4, 0), (
        "nothing of the failed order"
    )
    low = of_type(out, LowStockDetected)
    assert sorted((m.sku, m.warehouse) for m in low) == [("SKU-1", "paris"), ("SKU-2", "paris")]  # type: ignore[attr-defined]


@pytest.mark.ttl(8.0)
def test_cancellation_releases_and_an_unpaid_reservation_expires_but_a_paid_one_stays(
    inventory: Harness,
) -> None:
    inventory.send(received("SKU-X", "berlin", 10))
    inventory.published(count(StockReceived, 1))
    unpaid, paid, cancelled_order = uuid4(), uuid4(), uuid4()
    inventory.send(*(order_placed(o, {"SKU-X": 2}) for o in (unpaid, paid, cancelled_order)))
    inventory.published(count(StockReserved, 3))

    inventory.send(authorized(paid), stopped(cancelled_order))  # fulfillment stopped it
    out = inventory.published(count(StockReleased, 2))
    time.sleep(1.5)  # three expiry rounds past the paid reservation's time as well

    released = {(m.order_id, m.reason) for m in of_type(out, StockReleased)}  # type: ignore[attr-defined]
    assert released == {(cancelled_order, "cancelled"), (unpaid, "expired")}
    paid_reservation = inventory.app.reservation(paid)
    assert paid_reservation is not None
    assert paid_reservation.state == "authorized"
    stock = inventory.app.stock("SKU-X")
    assert stock is not None
    assert (stock.reserved("berlin"), stock.available("berlin")) == (2, 8)


def test_receipts_fill_backorders_first_in_first_out_and_publish_each_fill(
    inventory: Harness,
) -> None:
    inventory.app.change_stock("SKU-B", lambda s: s.set_policy(3, allow_backorder=True))
    inventory.app.change_stock("SKU-B", lambda s: s.receive("berlin", 2, None))
    first, second = uuid4(), uuid4()
    inventory.send(order_placed(first, {"SKU-B": 5}))
    inventory.published(count(StockReserved, 1))  # first in: the older order is filled first
    inventory.send(order_placed(second, {"SKU-B": 1}))
    inventory.published(count(StockReserved, 2))

    inventory.app.change_stock("SKU-B", lambda s: s.receive("berlin", 2, None))  # the API
    inventory.send(received("SKU-B", "berlin", 5))  # the ERP
    out = inventory.published(count(BackorderFilled, 3))

    fills = [m for m in of_type(out, BackorderFilled) if isinstance(m, BackorderFilled)]
    assert sorted(
        (
            m.order_id == first,
            m.fill,
            [(a.warehouse, a.quantity, a.backordered) for a in m.allocations],
        )
        for m in fills
    ) == [
        (False, 1, [("berlin", 1, False)]),
        (True, 1, [("berlin", 2, False)]),
        (True, 2, [("berlin", 1, False)]),
    ], "the older order took the first receipt whole"
    stock = inventory.app.stock("SKU-B")
    assert stock is not None
    assert (stock.on_hand["berlin"], stock.reserved("berlin"), stock.backordered("berlin")) == (
        9,
        6,
        0,
    )
