"""Two billing processes on one store and consumer group invoice forty shipments of twenty
orders at once: the invoice numbers are exactly 1 to 40, no gap and no number twice, on both
stores."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from billing_data import order_placed, shipped, stock_reserved

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import Outbox, publish, service_processes
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.billing import Invoiced, PaymentAuthorized
from orderflow.schemas.envelope import Message

pytestmark = pytest.mark.e2e
SUPPORT = Path(__file__).resolve().parent / "support"
ORDERS = 20


def distinct(messages: list[Message], kind: type[Message]) -> dict[object, Message]:
    """By event id: both processes run a relay on the shared store, so a copy may appear."""
    return {m.event_id: m for m in messages if isinstance(m, kind)}


def test_two_billing_processes_number_invoices_without_gaps(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    inbound, outbound = unique("events"), unique("billing")
    ensure_topics(kafka_bootstrap, [inbound, outbound], 6)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "TEST_SERVICE_NAME": unique("bill")[:40],
        "TEST_SERVICE_IN": inbound,
        "TEST_SERVICE_OUT": outbound,
        "TEST_SERVICE_GROUP": unique("group"),
        "ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERFLOW_DATA_DIR": str(store_settings.data_dir),
    }
    if store_settings.database_url:
        env["ORDERFLOW_DATABASE_URL"] = store_settings.database_url
    lines = {"SKU-1": 1, "BOOK-1": 1}
    orders = [uuid4() for _ in range(ORDERS)]
    producer = new_producer(kafka_bootstrap)

    with service_processes("billing_race:SERVICE", 2, env, tmp_path):
        publish(
            producer,
            inbound,
            [m for o in orders for m in (order_placed(o, lines), stock_reserved(o, lines))],
        )
        Outbox(kafka_bootstrap, outbound).wait_for(
            lambda seen: len(distinct(seen, PaymentAuthorized)) >= ORDERS
        )
        publish(producer, inbound, [shipped(o, {sku: 1}) for o in orders for sku in lines])
        out = Outbox(kafka_bootstrap, outbound).wait_for(
            lambda seen: len(distinct(seen, Invoiced)) >= 2 * ORDERS
        )

    numbers = sorted(m.invoice_number for m in distinct(out, Invoiced).values())  # type: ignore[attr-defined]
    year = numbers[0][4:8]
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 2 * ORDERS + 1)]
