"""Client settings for confluent-kafka that hold on any Kafka-compatible broker.

Session and poll-interval timeouts are short on purpose: a group join waits up to the poll
interval for members to rejoin, and the embedded broker would otherwise take ~25 s per join."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # retries never duplicate or reorder within a session
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": 30_000,
        **overrides,
    }


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,  # offsets follow the database commit, never lead it
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 20_000,
        "fetch.wait.max.ms": 50,
        # what librdkafka fetches ahead of the loop: its 64 MB default would hold a backlog in
        # memory; a few batches ahead keeps the loop busy just as well
        "queued.max.messages.kbytes": 8192,
        **overrides,
    }


KafkaHeaders = list[tuple[str, str | bytes | None]]


def kafka_headers(headers: Sequence[tuple[str, bytes]]) -> KafkaHeaders:
    """Our headers in the shape confluent-kafka's `produce` is typed for."""
    return [(name, value) for name, value in headers]


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    """A consumed message's headers, with a missing value as empty bytes."""
    found = message.headers() or []
    return [
        (name, value if isinstance(value, bytes) else (value or "").encode())
        for name, value in found
    ]


def where(message: Any) -> tuple[str, int]:
    """(topic, partition) of a consumed message, which always has both."""
    return (str(message.topic()), int(message.partition()))


def new_producer(bootstrap: str, **overrides: Any) -> Producer:
    return Producer(producer_config(bootstrap, **overrides))


def new_consumer(bootstrap: str, group: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(bootstrap, group, **overrides))
