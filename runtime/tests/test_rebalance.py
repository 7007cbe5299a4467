"""Scale-out: a second process of the same service joins the group under load and leaves
again; partitions move between them with no event lost and none applied twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from feed import publish
from processes import ledger_process, references, wait_for

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics

pytestmark = pytest.mark.integration

EVENTS = 6000


def feed_slowly(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = new_producer(bootstrap)
    for start in range(1, EVENTS + 1, 200):  # about 6 s of steady load
        publish(producer, topic, range(start, min(start + 200, EVENTS + 1)), skus=60)
        if stop.wait(0.2):
            return


def test_a_second_instance_joins_and_leaves_under_load(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    topic, name, group = unique("in"), unique("ledger"), unique("group")
    ensure_topics(kafka_bootstrap, [topic], 6)
    first = ledger_process(name, topic, group, store_settings, kafka_bootstrap, tmp_path).start()
    second = ledger_process(name, topic, group, store_settings, kafka_bootstrap, tmp_path)
    second.log_path = tmp_path / "second.log"
    stop = threading.Event()
    feeder = threading.Thread(target=feed_slowly, args=(kafka_bootstrap, topic, stop))
    try:
        wait_for(lambda: "partitions assigned" in first.log(), 60, "the first instance")
        feeder.start()
        time.sleep(1.5)
        second.start()
        wait_for(lambda: "partitions assigned" in second.log(), 60, "the second to share")
        time.sleep(2)
        assert second.stop() == 0, "the second instance leaves cleanly"
        feeder.join(120)
        wait_for(lambda: len(references(name, store_settings)) >= EVENTS, 120, "every event")
    finally:
        stop.set()
        first.stop()

    applied = Counter(references(name, store_settings))
    assert len(applied) == EVENTS, "nothing lost"
    assert max(applied.values()) == 1, "nothing applied twice"
    assert "partitions revoked" in first.log(), "the first gave partitions away when B joined"
    assert any(
        entry.get("partitions")
        for entry in log_entries(second.log())
        if entry["event"] == "partitions assigned"
    ), "the second got partitions"


def log_entries(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
