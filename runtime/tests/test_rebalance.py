"""Scale-out: a second process of the same service joins the group under load and leaves
again; partitions move between them with no event lost and none applied twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Message as KafkaMessage
from feed import publish
from ledger_service import Ledgers, on_stock_received
from processes import ledger_process, references, wait_for
from relays import published

from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.kafka import message_headers, new_consumer, new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.runtime.topics import ensure_topics
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.codec import decode
from orderflow.schemas.inventory import StockReceived

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
    topic, out, name, group = unique("in"), unique("out"), unique("ledger"), unique("group")
    ensure_topics(kafka_bootstrap, [topic, out], 6)
    first, second = (
        ledger_process(name, topic, group, store_settings, kafka_bootstrap, tmp_path, out)
        for _ in range(2)
    )
    first.start()
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
        sent = Counter(e.reference for e in published(kafka_bootstrap, out, everything_in))
    finally:
        stop.set()
        first.stop()

    applied = Counter(references(name, store_settings))
    assert len(applied) == EVENTS, "nothing lost"
    assert max(applied.values()) == 1, "nothing applied twice"
    assert len(sent) == EVENTS, "every effect published"
    if store_settings.database_url:  # on PostgreSQL one relay publishes for both (`lease`)
        assert max(sent.values()) == 1, "published once, though two instances wrote"
    assert "partitions revoked" in first.log(), "the first gave partitions away when B joined"
    assert any(
        entry.get("partitions")
        for entry in log_entries(second.log())
        if entry["event"] == "partitions assigned"
    ), "the second got partitions"


def everything_in(events: list[StockReceived]) -> bool:
    return len({event.reference for event in events}) >= EVENTS


def log_entries(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_partition_that_moves_and_returns_during_an_outage_keeps_its_offsets(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a batch from two partitions, and a database outage during which the group takes
    # partition 1 away and then hands it back (the callbacks run inside the wait's poll)
    topic, dlq, group = unique("in"), unique("dlq"), unique("group")
    ensure_topics(kafka_bootstrap, [topic, dlq], 2)
    delivered = publish(new_producer(kafka_bootstrap), topic, range(1, 41))
    consumer, app = new_consumer(kafka_bootstrap, group), Ledgers(env=store.env)
    moved = TopicPartition(topic, 1)
    moves: list[Callable[[], None]] = []

    def during_outage(received: StockReceived, uow: UnitOfWork) -> None:
        if moves:
            moves.pop(0)()
            raise psycopg.OperationalError("the database is restarting (simulated)")
        on_stock_received(received, uow)

    loop = ConsumerLoop.build(
        app,
        {StockReceived: during_outage},
        consumer,
        new_producer(kafka_bootstrap),
        [topic],
        group,
        threading.Event(),
        dead_letter_topic=dlq,
    )
    moves += [
        lambda: loop._on_revoke(consumer, [moved]),
        lambda: loop._on_assign(consumer, [moved]),
    ]
    consumer.subscribe([topic], on_assign=loop._on_assign, on_revoke=loop._on_revoke)
    batch = all_of(consumer, 40)

    # when the loop applies the batch through the outage
    loop.process(batch)
    consumer.close()  # its offset commits go out first

    # then partition 0's events are applied and its offsets committed; partition 1's events,
    # dropped from the batch when it moved, are neither, so they are read again
    on_first = {reference(m) for m in batch if m.partition() == 0}
    assert {ref for refs in app.references().values() for ref in refs} == on_first
    assert committed(kafka_bootstrap, group, topic, 2) == {0: delivered.ends[0]}


def all_of(consumer: Consumer, count: int, timeout: float = 30) -> list[KafkaMessage]:
    messages: list[KafkaMessage] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count:
        assert time.monotonic() < deadline, f"only {len(messages)} of {count} arrived"
        messages += [m for m in consumer.consume(count, timeout=0.5) if m.error() is None]
    return messages


def reference(message: KafkaMessage) -> str:
    event = decode(message.value(), message_headers(message))
    assert isinstance(event, StockReceived)
    return event.reference or ""


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = probe.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
        return {tp.partition: tp.offset for tp in offsets if tp.offset >= 0}
    finally:
        probe.close()
