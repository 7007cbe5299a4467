"""`orderflow stream <order-id>`: one order's events from every topic, causes before effects
even when a service's clock runs behind, each event once, no other order's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from lifecycle import lifecycle

from orderflow.runtime.history import order_history
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.testkit import publish
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.topics import ALL_TOPICS, topic_of

pytestmark = pytest.mark.integration


def test_the_history_of_one_order_across_topics_in_causal_order(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    order, other = uuid4(), uuid4()
    events = lifecycle(order)
    created, shipped = events[3], events[5]
    # Fulfillment's clock runs 10 s behind: the shipment seems to leave before it was created.
    events[5] = shipped.model_copy(
        update={
            "causation_id": created.event_id,
            "occurred_at": created.occurred_at - timedelta(seconds=10),
        }
    )
    orders, others = unique("orders"), unique("others")
    ensure_topics(kafka_bootstrap, [orders, others], 3)
    producer = new_producer(kafka_bootstrap)
    publish(producer, orders, [e for e in events if e.source == "intake"])
    publish(producer, others, [e for e in events if e.source != "intake"])
    publish(producer, others, [events[7], *lifecycle(other)])  # a redelivery, another order

    found = order_history(kafka_bootstrap, str(order), [orders, others])

    ids = [item.event.event_id for item in found]
    assert sorted(map(str, ids)) == sorted(str(e.event_id) for e in events)  # each once, no other
    assert ids.index(events[5].event_id) == ids.index(created.event_id) + 1  # right after its cause
    assert [item.event.type for item in found][-1] == "OrderCompleted"


def test_orderflow_stream_prints_the_order_from_the_real_topics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    order = uuid4()
    ensure_topics(kafka_bootstrap, ALL_TOPICS, 3)
    producer = new_producer(kafka_bootstrap)
    events = lifecycle(order)
    for event in events:
        publish(producer, topic_of(event), [event])

    # printed to a pipe of no stated width, as into a file or grep
    shown = orderflow(
        "stream", str(order), bootstrap=kafka_bootstrap, data_dir=tmp_path, columns=None
    )
    unknown = orderflow("stream", str(uuid4()), bootstrap=kafka_bootstrap, data_dir=tmp_path)

    assert shown.returncode == 0, shown.stdout
    assert f"Order {order}: 12 events" in shown.stdout
    assert shown.stdout.index("OrderPlaced v2") < shown.stdout.index("OrderCompleted v1")
    # each row whole: its time, its id (as "caused by" names it), where it lies
    placed = next(line for line in shown.stdout.splitlines() if "OrderPlaced v2" in line)
    assert events[0].occurred_at.isoformat(timespec="milliseconds") in placed
    assert str(events[0].event_id)[:8] in placed
    assert re.search(r"orders\.events\[\d\]@\d+", placed), placed
    assert unknown.returncode == 1
    assert "restarted starts empty" in unknown.stderr


def test_orderflow_replay_names_the_projections_it_knows(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    answer = orderflow("replay", "nonsense", bootstrap=kafka_bootstrap, data_dir=tmp_path)

    assert answer.returncode == 2
    assert "tracking, analytics" in answer.stderr


def orderflow(
    *args: str, bootstrap: str, data_dir: Path, columns: str | None = "200"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "ORDERFLOW_DATA_DIR": str(data_dir),
    }
    env.pop("COLUMNS", None)  # None: as a pipe is, whatever the terminal running the tests
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "orderflow.runtime", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
