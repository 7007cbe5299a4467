"""A projection worker: the runtime's consumer loop (decode, dead-letter what cannot be read,
commit offsets after the database) applying batches to a read model instead of an event store."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from orderflow.runtime.consumer import Apply, ConsumerLoop
from orderflow.runtime.deadletters import DeadLetterPublisher
from orderflow.runtime.kafka import new_consumer, new_producer
from orderflow.schemas.topics import DEAD_LETTERS


def projection_loop(
    apply: Apply,
    bootstrap: str,
    topics: Sequence[str],
    group: str,
    stopping: threading.Event,
    dead_letter_topic: str = DEAD_LETTERS,
    batch_size: int = 2000,
) -> ConsumerLoop:
    letters = DeadLetterPublisher(new_producer(bootstrap), group, dead_letter_topic)
    consumer = new_consumer(bootstrap, group)
    return ConsumerLoop(apply, consumer, topics, letters, stopping, batch_size)
