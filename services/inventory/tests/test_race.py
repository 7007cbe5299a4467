"""Two inventory processes sharing one store and one consumer group, twelve orders for five
units arriving at once: exactly five get a unit, on both stores. The store's version check on
the SKU's stock decides every race."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from inventory_data import order_placed

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import Outbox, publish, service_processes
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.envelope import Message
from orderflow.schemas.inventory import StockReservationFailed, StockReserved

pytestmark = pytest.mark.e2e
SUPPORT = Path(__file__).resolve().parent / "support"
ORDERS, UNITS = 12, 5


@pytest.fixture
def two_inventories(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[list[str], str, str, list[Path]]]:
    inbound, outbound = unique("orders"), unique("inventory")
    ensure_topics(kafka_bootstrap, [inbound, outbound], 6)
    berlin = [{"id": "berlin", "name": "Berlin", "priority": 1, "country": "DE"}]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "TEST_SERVICE_NAME": unique("inv")[:40],
        "TEST_SERVICE_IN": inbound,
        "TEST_SERVICE_OUT": outbound,
        "TEST_SERVICE_GROUP": unique("group"),
        "ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERFLOW_DATA_DIR": str(store_settings.data_dir),
        "ORDERFLOW_WAREHOUSES": json.dumps(berlin),
    }
    if store_settings.database_url:
        env["ORDERFLOW_DATABASE_URL"] = store_settings.database_url
    with service_processes("inventory_race:SERVICE", 2, env, tmp_path) as urls:
        yield urls, inbound, outbound, [tmp_path / f"service-{n}.log" for n in range(2)]


def answered(messages: list[Message]) -> dict[UUID, str]:
    """Each order's answer. Both processes run a relay on the shared store, so an answer may
    be published twice (the same event id); consumers skip the copy, and so does this count."""
    answers: dict[UUID, str] = {}
    for message in messages:
        if isinstance(message, StockReserved | StockReservationFailed):
            kind = "reserved" if isinstance(message, StockReserved) else "failed"
            assert answers.setdefault(message.order_id, kind) == kind, "one answer per order"
    return answers


def test_twelve_orders_for_five_units_give_exactly_five_reservations(
    two_inventories: tuple[list[str], str, str, list[Path]], kafka_bootstrap: str
) -> None:
    urls, inbound, outbound, logs = two_inventories
    receipt = httpx.post(
        f"{urls[0]}/stock/SKU-RACE/receipts", json={"warehouse": "berlin", "quantity": UNITS}
    )
    assert receipt.status_code == 200, receipt.text
    deadline = time.monotonic() + 30
    while not all("partitions assigned" in log.read_text() for log in logs):
        assert time.monotonic() < deadline, "both processes should hold partitions"
        time.sleep(0.2)

    publish(
        new_producer(kafka_bootstrap),
        inbound,
        [order_placed(uuid4(), {"SKU-RACE": 1}) for _ in range(ORDERS)],
    )
    out = Outbox(kafka_bootstrap, outbound).wait_for(lambda seen: len(answered(seen)) >= ORDERS)

    assert sorted(answered(out).values()) == ["failed"] * (ORDERS - UNITS) + ["reserved"] * UNITS
    stock = httpx.get(f"{urls[1]}/stock/SKU-RACE").json()
    assert (stock["warehouses"][0]["reserved"], stock["available"]) == (UNITS, 0)
