"""The bare confluent-kafka consume-then-produce loop: the ceiling any runtime hop is judged by."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer

from orderflow.runtime.topics import ensure_topics

PAYLOAD = b"x" * 200  # about the size of an encoded integration event


def prefill(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    for i in range(count):
        producer.produce(topic, key=f"order-{i % 1000}", value=PAYLOAD)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def raw_hop(bootstrap: str, count: int, partitions: int) -> float:
    """Messages per second moved from one topic to another by a bare loop."""
    source, target = f"bench.in.{uuid.uuid4().hex}", f"bench.out.{uuid.uuid4().hex}"
    ensure_topics(bootstrap, [source, target], partitions)
    prefill(bootstrap, source, count)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 20000,
        }
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    consumer.subscribe([source])
    moved, started = 0, 0.0
    try:
        while moved < count:
            batch = consumer.consume(1000, timeout=1.0)
            if batch and not started:
                started = time.perf_counter()  # group join is not part of the hop
            for message in batch:
                if message.error() is None:
                    producer.produce(target, key=message.key(), value=message.value())
                    moved += 1
            producer.poll(0)
        producer.flush(60)
        return moved / (time.perf_counter() - started)
    finally:
        consumer.close()
