"""Helpers for services' tests against a real broker: publish contract messages, read back what
a topic holds, and run a service's consumer loop, relay and workers in threads on topics of the
test's own (so tests sharing one broker never see each other's messages)."""

from __future__ import annotations

import dataclasses
import functools
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import uvicorn
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from eventsourcing.application import Application
from fastapi import FastAPI

from orderflow.runtime.broker import free_port
from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.health import is_ready
from orderflow.runtime.kafka import (
    client_config,
    kafka_headers,
    message_headers,
    new_consumer,
    new_producer,
)
from orderflow.runtime.relay import Relay
from orderflow.runtime.spec import ServiceSpec
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.codec import decode, encode
from orderflow.schemas.envelope import Message


@contextmanager
def serving(api: FastAPI) -> Iterator[str]:
    """`api` on a real uvicorn server in a thread (for what TestClient cannot do: many
    connections at once, a client hanging up an endless stream); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(api, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass(frozen=True)
class Topics:
    inbound: str
    outbound: str
    dead_letters: str


def publish(producer: Producer, topic: str, messages: Iterable[Message]) -> None:
    """Publish and wait until the broker confirmed every message."""
    failures: list[str] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            failures.append(str(error))

    for message in messages:
        encoded = encode(message)
        headers = kafka_headers(encoded.headers)
        producer.produce(topic, encoded.value, encoded.key, headers=headers, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert not failures, failures


@dataclass
class Outbox:
    """What a topic holds, decoded, read from the start until a condition holds."""

    bootstrap: str
    topic: str
    seen: list[Message] = field(default_factory=list)

    def wait_for(self, done: Callable[[list[Message]], bool], timeout: float = 60) -> list[Message]:
        # its partitions assigned, not subscribed: joining a group of its own took the
        # embedded broker about three seconds at every call, most of a service test's time;
        # and it commits nothing, so no group of its own is left behind on the broker
        group = {"group.id": f"outbox-{uuid.uuid4()}", "enable.auto.commit": False}
        consumer = Consumer(client_config(self.bootstrap, **group))
        deadline, self.seen = time.monotonic() + timeout, []
        try:
            consumer.assign(self._partitions(consumer, deadline))
            while not done(self.seen):
                assert time.monotonic() < deadline, f"gave up; the topic holds: {self.seen}"
                for message in consumer.consume(500, timeout=0.2):
                    if message.error() is None:
                        self.seen.append(decode(message.value(), message_headers(message)))
        finally:
            consumer.close()
        return self.seen

    def _partitions(self, consumer: Consumer, deadline: float) -> list[TopicPartition]:
        """The topic's partitions from their start, once the topic exists (a service being
        started may create it)."""
        while True:
            found = consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
            if found is not None and found.error is None and found.partitions:
                return [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in found.partitions]
            assert time.monotonic() < deadline, f"the topic {self.topic} was never created"
            time.sleep(0.2)


def of_type(messages: Sequence[Message], kind: type[Message]) -> list[Message]:
    return [message for message in messages if isinstance(message, kind)]


@contextmanager
def running(
    spec: ServiceSpec, app: Application[UUID], bootstrap: str, topics: Topics, group: str
) -> Iterator[None]:
    """The service's consumer loop (on `topics.inbound`), relay (to `topics.outbound`) and
    workers, in threads until the block ends."""
    ensure_topics(bootstrap, [topics.inbound, topics.outbound, topics.dead_letters], 3)
    stopping = threading.Event()
    loop = ConsumerLoop.build(
        app,
        spec.handlers,
        new_consumer(bootstrap, group),
        new_producer(bootstrap),
        [topics.inbound],
        group,
        stopping,
        dead_letter_topic=topics.dead_letters,
        rescue=spec.rescue,
    )
    targets: list[Callable[[], None]] = [loop.run]
    if spec.translate is not None:
        producer = new_producer(bootstrap)
        relay = Relay(app, spec.translate, producer, topic_for=lambda _: topics.outbound)
        targets.append(functools.partial(relay.run, stopping))
    targets += [functools.partial(work, app, stopping) for work in spec.workers]
    workers = [threading.Thread(target=target, daemon=True) for target in targets]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stopping.set()
        for worker in workers:
            worker.join(15)


def on_own_topics(spec: ServiceSpec, env: Mapping[str, str]) -> ServiceSpec | None:
    """`spec` on a test's own store, topics and group, from TEST_SERVICE_NAME, TEST_SERVICE_IN,
    TEST_SERVICE_OUT and TEST_SERVICE_GROUP: for tests that run a service as its own OS process
    with `orderflow service some_module:SERVICE`. None when they are not set."""
    if "TEST_SERVICE_NAME" not in env:
        return None
    outbound = env["TEST_SERVICE_OUT"]
    return dataclasses.replace(
        spec,
        name=env["TEST_SERVICE_NAME"],
        consumes=[env["TEST_SERVICE_IN"]],
        topic_for=lambda _: outbound,
        group=env["TEST_SERVICE_GROUP"],
    )


@contextmanager
def service_processes(
    reference: str, count: int, env: Mapping[str, str], logs: Path, ready_within: float = 40
) -> Iterator[list[str]]:
    """`count` processes of `orderflow service <reference>`, each on a free port, ready (their
    /readyz answers 200) before the block runs; SIGTERM after it, and each must exit 0. Yields
    their base URLs; their output is in `logs`/service-<n>.log."""
    processes, urls = [], []
    for number in range(count):
        port, log = free_port(), (logs / f"service-{number}.log").open("wb")
        command = [sys.executable, "-m", "orderflow.runtime", "service", reference]
        processes.append(
            subprocess.Popen(
                [*command, "--port", str(port)],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + ready_within
        while not all(is_ready(url) for url in urls):
            died = [n for n, process in enumerate(processes) if process.poll() is not None]
            assert not died, (logs / f"service-{died[0]}.log").read_text()
            assert time.monotonic() < deadline, f"{reference} did not become ready"
            time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [process.wait(15) for process in processes]
    assert codes == [0] * count, codes
