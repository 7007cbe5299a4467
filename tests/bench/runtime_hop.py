"""One runtime hop: consume an event, a handler writes one event, the relay publishes it; and
the relay alone draining a pre-filled store. Run against the same broker as the bare loop."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.kafka import kafka_headers, new_consumer, new_producer
from orderflow.runtime.relay import Relay
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import store_for
from orderflow.runtime.topics import ensure_topics
from orderflow.runtime.translation import translator
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.codec import encode
from orderflow.schemas.inventory import StockReceived


class Receipt(Aggregate):
    @staticmethod
    def create_id(reference: str) -> UUID:
        """Derived from the input, as every service derives its aggregates' ids (a redelivered
        input finds its aggregate). The library's default, a random uuid4, reads os.urandom,
        which lets go of the GIL: with the relay busy on another thread, taking it back cost
        the handler ~30 us per event, a third of its time, which no service pays."""
        return uuid5(NAMESPACE_URL, f"orderflow:bench-receipt/{reference}")

    @event("Recorded")
    def __init__(self, sku: str, quantity: int, reference: str, correlation_id: UUID) -> None:
        self.sku, self.quantity, self.reference = sku, quantity, reference


def record(received: StockReceived, uow: UnitOfWork) -> None:
    uow.add(
        Receipt(received.sku, received.quantity, received.reference or "", received.correlation_id)
    )


def _received(domain_event: Any, head: dict[str, Any]) -> StockReceived:
    return StockReceived(
        **head,
        sku=domain_event.sku,
        warehouse="bench",
        quantity=domain_event.quantity,
        reference=domain_event.reference,
    )


# as the services translate: the envelope's event id derived from the stored event
translate = translator("bench", {"Receipt.Recorded": _received})


def _input(position: int) -> StockReceived:
    return StockReceived(
        source="erp",
        source_position=position,
        correlation_id=uuid.uuid4(),
        sku=f"SKU-{position % 500:03d}",
        warehouse="berlin",
        quantity=3,
        reference=f"bench-{position}",
    )


def prefill_input(bootstrap: str, topic: str, count: int) -> None:
    producer = new_producer(bootstrap)
    for position in range(1, count + 1):
        encoded = encode(_input(position))
        producer.produce(topic, encoded.value, encoded.key, headers=kafka_headers(encoded.headers))
        if position % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def count_until(bootstrap: str, topic: str, expected: int, timeout: float = 600) -> float:
    """Wait until `expected` messages are on `topic`; return when the last one was seen. The
    partitions are assigned, not subscribed: a group join (~3 s on the embedded broker) would
    hide a hop that finishes sooner behind the counter's own start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4()}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen, deadline = 0, time.monotonic() + timeout
    try:
        while seen < expected:
            assert time.monotonic() < deadline, f"only {seen} of {expected} arrived"
            seen += sum(1 for m in consumer.consume(5000, timeout=0.2) if m.error() is None)
        return time.perf_counter()
    finally:
        consumer.close()


def warm_producer(bootstrap: str, topic: str) -> Producer:
    """A producer that has delivered to `topic` once, as a running service's relay has: its
    connection, idempotent producer id and partition leaders are not part of what is measured
    (a cold one spends ~0.5 s on them before the first batch is confirmed)."""
    producer = new_producer(bootstrap)
    producer.produce(topic, b"warm-up")
    assert producer.flush(30) == 0, "the broker did not confirm the warm-up message"
    return producer


def hop(bootstrap: str, settings: Settings, count: int, partitions: int = 6) -> float:
    """Events per second through consume → handler → store → relay → Kafka."""
    source, target = f"hop.in.{uuid.uuid4().hex}", f"hop.out.{uuid.uuid4().hex}"
    ensure_topics(bootstrap, [source, target], partitions)
    prefill_input(bootstrap, source, count)
    app = Application[UUID](env=store_for(f"bench_{uuid.uuid4().hex[:8]}", settings).env)
    stopping, group = threading.Event(), f"hop-{uuid.uuid4()}"
    loop = ConsumerLoop.build(
        app,
        {StockReceived: record},
        new_consumer(bootstrap, group),
        new_producer(bootstrap),
        [source],
        group,
        stopping,
        batch_size=2000,
    )
    relay = Relay(app, translate, warm_producer(bootstrap, target), topic_for=lambda _: target)
    workers = [
        threading.Thread(target=loop.run),
        threading.Thread(target=relay.run, args=(stopping,)),
    ]
    for worker in workers:
        worker.start()
    try:
        while not loop.assigned:  # the group join is not part of the hop
            time.sleep(0.01)
        started = time.perf_counter()
        finished = count_until(bootstrap, target, count + 1)  # and the warm-up message
    finally:
        stopping.set()
        for worker in workers:
            worker.join(30)
    return count / (finished - started)


def relay_drain(bootstrap: str, settings: Settings, count: int, partitions: int = 6) -> float:
    """Events per second the relay publishes from a store already holding `count` events."""
    target = f"relay.out.{uuid.uuid4().hex}"
    ensure_topics(bootstrap, [target], partitions)
    app = Application[UUID](env=store_for(f"bench_{uuid.uuid4().hex[:8]}", settings).env)
    for start in range(0, count, 5000):
        app.save(
            *(
                Receipt("SKU-001", 1, f"r-{n}", uuid.uuid4())
                for n in range(start, min(start + 5000, count))
            )
        )
    relay = Relay(app, translate, warm_producer(bootstrap, target), topic_for=lambda _: target)
    started = time.perf_counter()
    while relay.publish_next():
        pass
    return count / (time.perf_counter() - started)
