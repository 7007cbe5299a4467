"""The broker fixture is a real Kafka-protocol broker: messages go in and come back out."""

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer

from orderflow.runtime.topics import describe_topics, ensure_topics

pytestmark = pytest.mark.integration


def test_messages_produced_are_consumed_in_key_order(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic = unique("roundtrip")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = [(f"order-{i % 4}", f"event-{i}") for i in range(40)]

    for key, value in sent:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0

    received = _consume(kafka_bootstrap, topic, unique("group"), expected=len(sent))
    assert sorted(received) == sorted(sent)
    for key in {key for key, _ in sent}:
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


def test_topics_are_created_once_with_the_configured_partitions(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    names = [unique("a"), unique("b")]

    first = ensure_topics(kafka_bootstrap, names, partitions=4)
    second = ensure_topics(kafka_bootstrap, names, partitions=8)

    assert [(s.partitions, s.created) for s in first] == [(4, True), (4, True)]
    assert [(s.partitions, s.created) for s in second] == [(4, False), (4, False)]
    assert {name: describe_topics(kafka_bootstrap)[name] for name in names} == dict.fromkeys(
        names, 4
    )


def _consume(bootstrap: str, topic: str, group: str, expected: int) -> list[tuple[str, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": str(uuid.uuid4()),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 20000,
        }
    )
    consumer.subscribe([topic])
    received: list[tuple[str, str]] = []
    try:
        for _ in range(60):
            for message in consumer.consume(100, timeout=0.5):
                assert message.error() is None, message.error()
                received.append((message.key().decode(), message.value().decode()))
            if len(received) >= expected:
                break
    finally:
        consumer.close()
    return received
