"""`orderflow service intake` as its own OS process, as an operator runs it: an order through
HTTP and one through the channel topic both come out as OrderPlaced on orders.events."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from intake_api import KEYS, key
from intake_data import body, submission

from orderflow.intake.domain import order_id_for
from orderflow.intake.service import SERVICE
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import Outbox, publish, service_processes
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.orders import OrderPlaced
from orderflow.schemas.topics import CHANNEL_ORDERS, ORDER_EVENTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def intake_url(store_settings: Settings, kafka_bootstrap: str, tmp_path: Path) -> Iterator[str]:
    ensure_topics(kafka_bootstrap, [ORDER_EVENTS, *SERVICE.consumes], 3)
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERFLOW_DATA_DIR": str(store_settings.data_dir),
        "ORDERFLOW_CHANNEL_KEYS": json.dumps(KEYS),
    }
    if store_settings.database_url:
        env["ORDERFLOW_DATABASE_URL"] = store_settings.database_url
    with service_processes("intake", 1, env, tmp_path) as urls:
        yield urls[0]


def test_orders_by_http_and_by_topic_are_both_published(
    intake_url: str, kafka_bootstrap: str
) -> None:
    by_http, by_topic = f"http-{uuid.uuid4().hex[:12]}", f"topic-{uuid.uuid4().hex[:12]}"

    answer = httpx.post(f"{intake_url}/orders", json=body(by_http), headers=key(by_http))
    publish(new_producer(kafka_bootstrap), CHANNEL_ORDERS, [submission(by_topic)])

    wanted = {order_id_for("web", by_http), order_id_for("web", by_topic)}
    placed = Outbox(kafka_bootstrap, ORDER_EVENTS).wait_for(
        lambda seen: wanted <= {m.order_id for m in seen if isinstance(m, OrderPlaced)}
    )
    assert answer.status_code == 202
    assert answer.json()["order_id"] == str(order_id_for("web", by_http))
    assert {m.source for m in placed if isinstance(m, OrderPlaced)} == {"intake"}
