"""Rebuilding the read models (`orderflow replay`) from a topic pre-filled with whole order
lifecycles: the tracking and analytics rebuilds run side by side, as
`orderflow replay tracking analytics` runs them, and the figure is topic events per second of
wall time until both swapped."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from uuid import uuid4

from orderflow.projections.replay import rebuild
from orderflow.projections.side_by_side import rebuild_side_by_side
from orderflow.runtime.kafka import kafka_headers, new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.codec import encode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "projections" / "tests" / "support"))
from lifecycle import lifecycle  # the projections tests' data


def fill(bootstrap: str, topic: str, events: int) -> int:
    """Publish whole order lifecycles (12 events each) until `events` are on the topic."""
    ensure_topics(bootstrap, [topic], 6)
    producer, published = new_producer(bootstrap, **{"linger.ms": 50}), 0
    while published < events:
        for message in lifecycle(uuid4()):
            encoded = encode(message)
            headers = kafka_headers(encoded.headers)
            while True:
                try:
                    producer.produce(topic, encoded.value, encoded.key, headers=headers)
                    break
                except BufferError:
                    producer.poll(0.05)
            published += 1
    assert producer.flush(120) == 0
    return published


def rebuild_tracking(settings: Settings, topic: str, events: int, database: str) -> float:
    """Events per second to rebuild the tracking model alone from `topic`."""
    started = time.perf_counter()
    rebuild("tracking", settings, database_name=database, topics=[topic])
    return events / (time.perf_counter() - started)


def rebuild_both(settings: Settings, topic: str, events: int, database: str) -> float:
    """Events per second to rebuild both read models from `topic` at once, as
    `orderflow replay tracking analytics` does: each in a process of its own."""
    started = time.perf_counter()
    outcome = rebuild_side_by_side(
        ["tracking", "analytics"], settings, database_name=database, topics=[topic]
    )
    if outcome.failures:
        raise RuntimeError(f"rebuild failed: {outcome.failures}")
    return events / (time.perf_counter() - started)
