"""Dead letters: a message no handler can ever apply goes to the dead-letter topic with its
original key, bytes and headers, plus `dlq_*` headers saying why, where from and for whom.
Processing of its partition goes on; an operator fixes the cause and replays it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage

from orderflow.runtime.kafka import (
    client_config,
    kafka_headers,
    message_headers,
    new_producer,
    where,
)
from orderflow.runtime.metrics import DEAD_LETTERED
from orderflow.schemas.topics import DEAD_LETTERS

PREFIX = "dlq_"
_MAX_ERROR = 2000


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # in the dead-letter topic
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]  # the original message's

    reason: str
    error: str
    field: str | None
    group: str
    topic: str  # where the original came from
    source_partition: int
    source_offset: int
    at: str

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def original(self) -> tuple[str, int, int]:
        """Where the original message was: its topic, partition and offset (or, for a letter
        that does not say, the letter's own place)."""
        if self.source_offset < 0:
            return (f"dead letter {self.ref}", self.partition, self.offset)
        return (self.topic, self.source_partition, self.source_offset)


class DeadLetterPublisher:
    """Sends a group's dead letters. `sent_elsewhere` holds the messages (topic, partition,
    offset) another group has already sent a letter for: a read model's rebuild reads what its
    live generation's group read, and a second letter for the same message would be noise for
    whoever reads the dead letters. (A message the live group applied and the rebuild cannot
    read, after a change of code, has no letter there, and gets one.)"""

    def __init__(
        self,
        producer: Producer,
        group: str,
        topic: str = DEAD_LETTERS,
        sent_elsewhere: Container[tuple[str, int, int]] = frozenset(),
    ) -> None:
        self.producer, self.group, self.topic = producer, group, topic
        self.sent_elsewhere = sent_elsewhere
        self._failures: list[str] = []

    def send(self, message: KafkaMessage, reason: str, error: str, field: str | None) -> None:
        if (*where(message), int(message.offset() or 0)) in self.sent_elsewhere:
            return
        why = {
            "reason": reason,
            "error": error[:_MAX_ERROR],
            "field": field or "",
            "group": self.group,
            "topic": message.topic() or "",
            "partition": str(message.partition()),
            "offset": str(message.offset()),
            "at": datetime.now(UTC).isoformat(),
        }
        headers = message_headers(message) + [(PREFIX + k, v.encode()) for k, v in why.items()]
        self.producer.produce(
            self.topic,
            key=message.key(),
            value=message.value(),
            headers=kafka_headers(headers),
            on_delivery=self._delivered,
        )
        DEAD_LETTERED.labels(message.topic() or "", reason).inc()

    def _delivered(self, error: KafkaError | None, _: KafkaMessage) -> None:
        if error is not None:
            self._failures.append(str(error))

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every dead letter is stored by the broker; raise if one was not."""
        remaining = self.producer.flush(timeout)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise ConnectionError(f"dead letters not delivered: {remaining} pending, {failures}")


def read_all(
    bootstrap: str, topic: str = DEAD_LETTERS, timeout: float = 10.0, newest: int | None = None
) -> list[DeadLetter]:
    """Every dead letter in the topic (or each partition's `newest`), oldest first per
    partition; joins no consumer group."""
    consumer = Consumer(
        client_config(
            bootstrap, **{"group.id": f"dlq-reader-{uuid.uuid4()}", "enable.auto.commit": False}
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout)
            for p in metadata.partitions
        }
        if newest is not None:  # a flood of them need not be read to show the latest
            ends = {p: (max(low, high - newest), high) for p, (low, high) in ends.items()}
        wanted = {p: (low, high) for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in wanted.items()])
        return _drain(consumer, {p: high for p, (_, high) in wanted.items()}, timeout)
    finally:
        consumer.close()


def _drain(consumer: Consumer, ends: dict[int, int], timeout: float) -> list[DeadLetter]:
    """Read until each partition's end, or until nothing came for a second. Each call asks
    briefly: `consume(n, timeout)` waits for all n or the whole timeout, which held every
    listing of fewer than n letters for that long."""
    letters: list[DeadLetter] = []
    pending, quiet_since = dict(ends), time.monotonic()
    while pending:
        batch = consumer.consume(500, timeout=0.1)
        if not batch:
            if time.monotonic() - quiet_since >= min(timeout, 1.0):
                break
            continue
        quiet_since = time.monotonic()
        for message in batch:
            if message.error() is None:
                letters.append(parse(message))
                partition, offset = int(message.partition() or 0), int(message.offset() or 0)
                if offset + 1 >= pending.get(partition, 0):
                    pending.pop(partition, None)
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


def parse(message: KafkaMessage) -> DeadLetter:
    headers = message_headers(message)
    why = {k[len(PREFIX) :]: v.decode(errors="replace") for k, v in headers if k.startswith(PREFIX)}
    return DeadLetter(
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
        headers=[(k, v) for k, v in headers if not k.startswith(PREFIX)],
        reason=why.get("reason", "?"),
        error=why.get("error", ""),
        field=why.get("field") or None,
        group=why.get("group", ""),
        topic=why.get("topic", ""),
        source_partition=int(why.get("partition", "-1")),
        source_offset=int(why.get("offset", "-1")),
        at=why.get("at", ""),
    )


def select(letters: Sequence[DeadLetter], refs: Iterable[str]) -> list[DeadLetter]:
    wanted = set(refs)
    chosen = [letter for letter in letters if letter.ref in wanted]
    missing = wanted - {letter.ref for letter in chosen}
    if missing:
        raise LookupError(f"no dead letter at {', '.join(sorted(missing))}")
    return chosen


def replay(bootstrap: str, letters: Iterable[DeadLetter], producer: Producer | None = None) -> int:
    """Publish each letter's original message to its original topic again, once: a message
    that several consumer groups dead-lettered (a malformed one on a topic many read) goes
    back once, and every group reads it again; sent once per letter, each group would read it
    once per group. The number of messages published."""
    producer = producer or new_producer(bootstrap)
    count, sent = 0, set[tuple[str, int, int]]()
    for letter in letters:
        if letter.original in sent:
            continue
        sent.add(letter.original)
        producer.produce(
            letter.topic, key=letter.key, value=letter.value, headers=kafka_headers(letter.headers)
        )
        count += 1
    if producer.flush(30):
        raise ConnectionError("replayed messages not all delivered")
    return count
