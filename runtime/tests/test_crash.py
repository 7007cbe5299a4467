"""Crash test: a service and its downstream consumer are killed with SIGKILL, again and again,
while thousands of events flow through them, including at the two most dangerous moments:
between the database commit and the Kafka offset commit, and inside the relay between
producing and saving its position. After restarts every input has exactly one effect, every
output was published at least once and applied exactly once downstream."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from feed import publish
from processes import LedgerProcess, ledger_process, references

from orderflow.runtime.kafka import message_headers, new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.codec import decode

pytestmark = pytest.mark.chaos

MIN_INPUTS, MAX_INPUTS = 3000, 20_000
MIN_KILLS = 20
# What each restart arms, in turn: certain death at a dangerous point first, then a chance of
# it, then nothing (random SIGKILLs from the test go on regardless until MIN_KILLS).
UPSTREAM_FAULTS = [
    "consumer.after_db_commit=1",
    "relay.after_produce=1",
    "consumer.before_db_commit=1",
    "relay.after_save=1",
    "consumer.after_db_commit=0.3,relay.after_produce=0.3",
    "relay.after_produce=0.3",
    "consumer.after_db_commit=0.3",
]
DOWNSTREAM_FAULTS = [
    "consumer.after_db_commit=1",
    "consumer.before_db_commit=1",
    "consumer.after_db_commit=0.3",
]
MUST_HIT = ("consumer.after_db_commit", "relay.after_produce")


def test_kill_9_at_random_and_at_the_dangerous_points_loses_and_doubles_nothing(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    inputs, outputs = unique("in"), unique("out")
    ensure_topics(kafka_bootstrap, [inputs, outputs], 3)
    upstream = ledger_process(
        unique("up"),
        inputs,
        unique("g"),
        store_settings,
        kafka_bootstrap,
        tmp_path,
        publishes_to=outputs,
        faults=UPSTREAM_FAULTS,
    )
    downstream = ledger_process(
        unique("down"),
        outputs,
        unique("g"),
        store_settings,
        kafka_bootstrap,
        tmp_path,
        faults=DOWNSTREAM_FAULTS,
    )
    services = [upstream.start(), downstream.start()]
    feeder = Feeder(kafka_bootstrap, inputs)

    try:
        feeder.start()
        _kill_until(services, lambda: _enough(services) and feeder.fed >= MIN_INPUTS)
        feeder.stop()
        _kill_until(services, lambda: _applied(downstream, store_settings) >= feeder.fed)
    finally:
        feeder.stop()
        for service in services:
            service.stop(timeout=20)

    hits = _fault_hits(services)
    up_effects = Counter(references(upstream.name, store_settings))
    down_effects = Counter(references(downstream.name, store_settings))
    published = _published_references(kafka_bootstrap, outputs)
    kills = sum(service.kills for service in services)
    print(
        f"\ncrash test: kills={kills} (at fault points {dict(hits)}), inputs={feeder.fed}, "
        f"effects up={sum(up_effects.values())} down={sum(down_effects.values())}, "
        f"published={len(published)}, duplicates absorbed={len(published) - feeder.fed}"
    )

    expected = {f"in-{n}" for n in range(1, feeder.fed + 1)}
    assert kills >= MIN_KILLS
    assert all(hits[point] for point in MUST_HIT), hits
    assert set(up_effects) == expected, "every input had an effect"
    assert max(up_effects.values()) == 1, "no input had two"
    assert set(published) == expected, "every output published at least once"
    assert set(down_effects) == expected, "every output applied downstream"
    assert max(down_effects.values()) == 1, "none applied twice"


class Feeder(threading.Thread):
    """Steady input while processes die: chunks of 50 until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.producer, self.topic = new_producer(bootstrap), topic
        self.fed, self.stopping = 0, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set() and self.fed < MAX_INPUTS:
            publish(self.producer, self.topic, range(self.fed + 1, self.fed + 51), skus=50)
            self.fed += 50
            self.stopping.wait(0.25)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(30)


def _enough(services: list[LedgerProcess]) -> bool:
    hits = _fault_hits(services)
    return sum(s.kills for s in services) >= MIN_KILLS and all(hits[p] for p in MUST_HIT)


def _kill_until(services: list[LedgerProcess], done: Callable[[], bool]) -> None:
    """Restart whatever died; SIGKILL a random one that has been consuming for a few seconds
    (so it was mid-work, not starting up), until `done`."""
    chance, deadline = random.Random(), time.monotonic() + 300
    working_since: dict[int, float] = {}
    while not done():
        assert time.monotonic() < deadline, f"stuck; kills {[s.kills for s in services]}"
        now = time.monotonic()
        for index, service in enumerate(services):
            if service.reap():
                working_since.pop(index, None)
            elif index not in working_since and service.working():
                working_since[index] = now + chance.uniform(1.5, 5)
        ripe = [i for i, at in working_since.items() if at <= now]
        if ripe and not _enough(services):
            victim = chance.choice(ripe)
            services[victim].kill()
            working_since.pop(victim)
        time.sleep(0.1)


def _applied(downstream: LedgerProcess, settings: Settings) -> int:
    return len(set(references(downstream.name, settings)))


def _fault_hits(services: list[LedgerProcess]) -> Counter[str]:
    return Counter(
        hit for service in services for hit in re.findall(r"fault: killed at (\S+)", service.log())
    )


def _published_references(bootstrap: str, topic: str) -> list[str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": str(uuid.uuid4())})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found: list[str] = []
    idle = 0
    try:
        while idle < 6:
            batch = [m for m in consumer.consume(2000, timeout=0.5) if m.error() is None]
            idle = 0 if batch else idle + 1
            found += [decode(m.value(), message_headers(m)).reference for m in batch]  # type: ignore[attr-defined]
    finally:
        consumer.close()
    return found
