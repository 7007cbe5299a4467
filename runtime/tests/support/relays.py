"""Relays for the ledger service and a reader of what they published, for the relay tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from ledger_service import Ledgers, make_translate

from orderflow.runtime.kafka import message_headers, new_producer
from orderflow.runtime.relay import Relay
from orderflow.schemas.codec import decode
from orderflow.schemas.inventory import StockReceived


def relay_for(app: Ledgers, bootstrap: str, topic: str, batch_size: int = 100) -> Relay:
    return Relay(
        app,
        make_translate("ledger"),
        new_producer(bootstrap),
        batch_size=batch_size,
        topic_for=lambda _: topic,
    )


def published(
    bootstrap: str, topic: str, done: Callable[[list[StockReceived]], bool]
) -> list[StockReceived]:
    """What the topic holds, read until `done` says it is all there (or 30 s pass). Read from
    every partition's start, joining no group: a group's join alone takes seconds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": str(uuid.uuid4())})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    events: list[StockReceived] = []
    try:
        for _ in range(100):
            for message in consumer.consume(1000, timeout=0.3):
                if message.error() is None:
                    event = decode(message.value(), message_headers(message))
                    assert isinstance(event, StockReceived)
                    events.append(event)
            if done(events):
                break
    finally:
        consumer.close()
    return events
