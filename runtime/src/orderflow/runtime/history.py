"""One order's history across the services (`orderflow stream <order-id>`): every event on the
event topics whose payload names the order, in causal order. Reads the topics from their
beginning with no consumer group, so it commits nothing and moves no partition, and keeps only
the order's messages as it goes: topics kept for good hold millions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka import Message as KafkaMessage

from orderflow.runtime.kafka import client_config, message_headers
from orderflow.schemas.codec import decode
from orderflow.schemas.envelope import Message, order_id_of
from orderflow.schemas.errors import DecodeError

_ASK_S = 0.1  # how long one consume call waits
_SETTLE_S = 0.5  # quiet after every partition's end, for what a broker reported early


@dataclass(frozen=True)
class Found:
    event: Message
    topic: str
    partition: int
    offset: int


def order_history(
    bootstrap: str, order_id: str, topics: Sequence[str], timeout: float = 10.0
) -> list[Found]:
    """The order's events, causes before their effects; otherwise by time."""
    wanted = order_id.encode()
    found = []
    for message in read_topics(bootstrap, topics, timeout):
        if message.key() != wanted:  # events about an order are keyed by it
            continue
        try:
            event = decode(message.value(), message_headers(message))
        except DecodeError:
            continue  # the dead letters tell that story
        if str(order_id_of(event)) == order_id:
            where = (int(message.partition() or 0), int(message.offset() or 0))
            found.append(Found(event, str(message.topic()), *where))
    return causal_order(found)


def causal_order(found: Iterable[Found]) -> list[Found]:
    """Each event after the event that caused it (when that is among them), else by time;
    a redelivered copy of an event appears once."""
    by_time = sorted(found, key=lambda f: (f.event.occurred_at, f.topic, f.partition, f.offset))
    by_id: dict[uuid.UUID, Found] = {}
    for item in by_time:
        by_id.setdefault(item.event.event_id, item)
    ordered: list[Found] = []
    placed: set[uuid.UUID] = set()

    def place(item: Found) -> None:
        if item.event.event_id in placed:
            return
        placed.add(item.event.event_id)
        cause = by_id.get(item.event.causation_id) if item.event.causation_id else None
        if cause is not None:
            place(cause)
        ordered.append(item)

    for item in by_id.values():
        place(item)
    return ordered


def read_topics(
    bootstrap: str, topics: Sequence[str], timeout: float = 10.0
) -> Iterator[KafkaMessage]:
    """Every message now on `topics`, from their beginning, as it is read; joins no group."""
    consumer = Consumer(
        client_config(
            bootstrap,
            **{
                "group.id": f"history-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    try:
        metadata = consumer.list_topics(timeout=timeout)
        partitions = [
            TopicPartition(topic, p, OFFSET_BEGINNING)  # 0 may be gone from a trimmed topic
            for topic in topics
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        if partitions:
            consumer.assign(partitions)
            yield from _until_every_end(consumer, len(partitions), timeout)
    finally:
        consumer.close()


def _until_every_end(consumer: Consumer, partitions: int, timeout: float) -> Iterator[KafkaMessage]:
    """Consume until each partition has reported its end and then nothing more comes for a
    moment (a broker may report an end early), or nothing comes for `timeout`. Each call asks
    briefly: `consume(n, timeout)` waits for all n messages or the whole timeout, so one long
    call held a topic of a few messages for all of it (10 s for every `orderflow stream`)."""
    ended: set[tuple[str, int]] = set()
    quiet_since = time.monotonic()
    while True:
        batch = consumer.consume(1000, timeout=_ASK_S)
        if not batch:
            waited = time.monotonic() - quiet_since
            if waited >= (_SETTLE_S if len(ended) >= partitions else timeout):
                return
            continue
        for message in batch:
            error = message.error()
            if error is None:
                yield message
            elif error.code() == KafkaError._PARTITION_EOF:
                ended.add((str(message.topic()), int(message.partition() or 0)))
        quiet_since = time.monotonic()  # after the caller's work on the batch
