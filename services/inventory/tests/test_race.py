"""Two inventory processes sharing one store and one consumer group, twelve orders for five
units arriving at once: exactly five get a unit, on both stores. The store's version check on
the SKU's stock decides every race."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from inventory_data import order_placed

from orderflow.runtime.broker import free_port
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import Outbox, publish
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.envelope import Message
from orderflow.schemas.inventory import StockReservationFailed, StockReserved

pytestmark = pytest.mark.e2e
SUPPORT = Path(__file__).resolve().parent / "support"
ORDERS, UNITS = 12, 5


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def two_inventories(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[list[str], str, str, list[Path]]]:
    inbound, outbound = unique("orders"), unique("inventory")
    ensure_topics(kafka_bootstrap, [inbound, outbound], 6)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "RACE_NAME": unique("inv")[:40],
        "RACE_IN": inbound,
        "RACE_OUT": outbound,
        "RACE_GROUP": unique("group"),
        "ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERFLOW_DATA_DIR": str(store_settings.data_dir),
        "ORDERFLOW_WAREHOUSES": json.dumps(
            [{"id": "berlin", "name": "B", "priority": 1, "country": "DE"}]
        ),
    }
    if store_settings.database_url:
        env["ORDERFLOW_DATABASE_URL"] = store_settings.database_url
    processes, urls, logs = [], [], []
    for number in range(2):
        port, log = free_port(), tmp_path / f"inventory-{number}.log"
        command = [sys.executable, "-m", "orderflow.runtime", "service", "inventory_race:SERVICE"]
        processes.append(
            subprocess.Popen(
                [*command, "--port", str(port)],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
        logs.append(log)
    deadline = time.monotonic() + 40
    while not all(_ready(url) for url in urls):
        assert all(p.poll() is None for p in processes), [log.read_text() for log in logs]
        assert time.monotonic() < deadline, "the inventories did not become ready"
        time.sleep(0.2)
    yield urls, inbound, outbound, logs
    for process in processes:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(15) for process in processes] == [0, 0]


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
