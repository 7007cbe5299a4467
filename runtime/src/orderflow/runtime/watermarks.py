"""How many messages each topic holds: the sum of its partitions' high watermarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from orderflow.runtime.kafka import client_config


def message_counts(bootstrap: str, topics: Iterable[str], timeout: float = 5.0) -> dict[str, int]:
    # A throw-away group id: reading watermarks joins no group and commits nothing.
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"watermarks-{uuid.uuid4()}"}))
    try:
        metadata = consumer.list_topics(timeout=timeout)
        counts = {}
        for topic in topics:
            partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
            counts[topic] = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in partitions
            )
        return counts
    finally:
        consumer.close()
