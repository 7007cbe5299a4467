"""What each topic holds: its partitions' watermarks, the first offset still kept (low) and the
next to be written (high)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from orderflow.runtime.kafka import client_config

#: (topic, partition) -> (low, high) watermark
Watermarks = dict[tuple[str, int], tuple[int, int]]


def watermarks(bootstrap: str, topics: Iterable[str], timeout: float = 5.0) -> Watermarks:
    # A throw-away group id: reading watermarks joins no group and commits nothing.
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"watermarks-{uuid.uuid4()}"}))
    try:
        metadata = consumer.list_topics(timeout=timeout)
        found: Watermarks = {}
        for topic in topics:
            partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
            for partition in partitions:
                found[(topic, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout
                )
        return found
    finally:
        consumer.close()


def message_counts(bootstrap: str, topics: Iterable[str], timeout: float = 5.0) -> dict[str, int]:
    """Messages each topic holds now: what retention has deleted is not counted."""
    wanted = list(topics)
    counts = dict.fromkeys(wanted, 0)
    for (topic, _), (low, high) in watermarks(bootstrap, wanted, timeout).items():
        counts[topic] += high - low
    return counts


def trimmed(found: Watermarks) -> dict[tuple[str, int], int]:
    """The partitions that no longer start at offset 0, with their first offset kept: the
    broker deleted what came before (retention, or records deleted by hand)."""
    return {where: low for where, (low, _) in sorted(found.items()) if low > 0}


def never_written(bootstrap: str, topics: Iterable[str], timeout: float = 5.0) -> bool:
    """Whether the topics exist and none of their partitions was ever written to (every high
    watermark 0): made anew since anything was published, as an embedded broker's are after a
    restart. Topics the broker does not list are no evidence either way: False."""
    found = watermarks(bootstrap, topics, timeout)
    return bool(found) and all(high == 0 for _, high in found.values())
