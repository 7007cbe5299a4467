"""Order intake's consumer loop and relay, running in threads on topics of the test's own."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer

from orderflow.intake.application import Intake
from orderflow.intake.policies import HANDLERS, rescue
from orderflow.intake.translate import translate
from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.kafka import kafka_headers, message_headers, new_consumer, new_producer
from orderflow.runtime.relay import Relay
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.codec import decode, encode
from orderflow.schemas.envelope import Message


@dataclass
class Topics:
    inbound: str
    outbound: str
    dead_letters: str


@dataclass
class Outbox:
    """Everything the relay published, read back as it arrives."""

    bootstrap: str
    topic: str
    seen: list[Message] = field(default_factory=list)

    def wait_for(self, done: Callable[[list[Message]], bool], timeout: float = 60) -> list[Message]:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"outbox-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
            }
        )
        consumer.subscribe([self.topic])
        deadline, self.seen = time.monotonic() + timeout, []
        try:
            while not done(self.seen):
                assert time.monotonic() < deadline, f"gave up; published so far: {self.seen}"
                for message in consumer.consume(500, timeout=0.2):
                    if message.error() is None:
                        self.seen.append(decode(message.value(), message_headers(message)))
        finally:
            consumer.close()
        return self.seen


@contextmanager
def running_intake(app: Intake, bootstrap: str, topics: Topics, group: str) -> Iterator[None]:
    ensure_topics(bootstrap, [topics.inbound, topics.outbound, topics.dead_letters], 3)
    stopping = threading.Event()
    loop = ConsumerLoop.build(
        app,
        HANDLERS,
        new_consumer(bootstrap, group),
        new_producer(bootstrap),
        [topics.inbound],
        group,
        stopping,
        dead_letter_topic=topics.dead_letters,
        rescue=rescue,
    )
    relay = Relay(app, translate, new_producer(bootstrap), topic_for=lambda _: topics.outbound)
    workers = [
        threading.Thread(target=loop.run, daemon=True),
        threading.Thread(target=relay.run, args=(stopping,), daemon=True),
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stopping.set()
        for worker in workers:
            worker.join(15)


def publish(producer: Producer, topic: str, messages: Iterable[Message]) -> None:
    failures: list[str] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            failures.append(str(error))

    for message in messages:
        encoded = encode(message)
        producer.produce(
            topic,
            encoded.value,
            encoded.key,
            headers=kafka_headers(encoded.headers),
            on_delivery=delivered,
        )
    assert producer.flush(30) == 0
    assert not failures, failures
