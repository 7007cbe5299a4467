"""The relay: publishes a service's new events from its notification log (the outbox) to Kafka.

It reads a batch after its saved position, translates each domain event with the service's own
function (an event may stay private: None), produces them all, waits until the broker confirmed
every one, and only then saves the new position. A crash before the save publishes the batch
again (consumers skip the duplicates); nothing after an unconfirmed event is ever marked done."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import structlog
from confluent_kafka import KafkaError, Producer
from confluent_kafka import Message as KafkaMessage
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from orderflow.runtime import faults
from orderflow.runtime.kafka import KafkaHeaders, kafka_headers
from orderflow.runtime.metrics import PRODUCED, RELAY_LAG, RETRIES
from orderflow.runtime.recorders import InboxRecorder
from orderflow.runtime.retry import Backoff, is_transient
from orderflow.schemas.codec import encode
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.topics import topic_of

log = structlog.get_logger("orderflow.relay")

#: Domain event and its notification id (the integration event's source position) in, the
#: integration event out; None keeps the domain event private to the service.
Translate = Callable[[Any, int], IntegrationEvent | None]


class DeliveryFailed(ConnectionError):
    """The broker did not confirm every event of a batch; the position stays where it was."""


class Relay:
    def __init__(
        self,
        app: Application[UUID],
        translate: Translate,
        producer: Producer,
        name: str = "kafka",
        batch_size: int = 5000,
        topic_for: Callable[[IntegrationEvent], str] = topic_of,
        renew: Callable[[], Producer] | None = None,
    ) -> None:
        self.app, self.translate, self.producer = app, translate, producer
        self.renew = renew  # a fresh producer after a failed batch (an idempotent producer's
        # failure can be fatal to it), so the retry starts clean from the saved position
        self.name, self.batch_size, self.topic_for = name, batch_size, topic_for
        self.recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
        self._failed: list[str] = []
        self._position: int | None = None  # read from the store once, then kept in memory

    def publish_next(self) -> int:
        """Publish the next batch; the number of notifications it moved past (0: caught up)."""
        if self._position is None:
            self._position = self.recorder.relay_position(self.name)
        position = self._position
        notifications = self.recorder.select_notifications(position + 1, self.batch_size)
        if not notifications:
            RELAY_LAG.labels(self.name).set(0)
            return 0
        self._produce_all(notifications)
        self._confirm()
        faults.point("relay.after_produce")
        last = notifications[-1].id
        self.recorder.save_relay_position(self.name, last)
        self._position = last
        faults.point("relay.after_save")
        RELAY_LAG.labels(self.name).set(max(0, self.recorder.max_notification_id() - last))
        return len(notifications)

    def _produce_all(self, notifications: Sequence[Notification]) -> None:
        produced: Counter[str] = Counter()
        for notification in notifications:
            event = self.translate(self.app.mapper.to_domain_event(notification), notification.id)
            if event is None:
                continue
            encoded = encode(event)
            topic = self.topic_for(event)
            self._produce(topic, encoded.key, encoded.value, kafka_headers(encoded.headers))
            produced[topic] += 1
        for topic, count in produced.items():
            PRODUCED.labels(topic).inc(count)

    def _produce(self, topic: str, key: bytes, value: bytes, headers: KafkaHeaders) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._delivered
                )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain, then go on

    def _delivered(self, error: KafkaError | None, _: KafkaMessage) -> None:
        if error is not None:
            self._failed.append(str(error))

    def _confirm(self, timeout: float = 60.0) -> None:
        remaining = self.producer.flush(timeout)
        failed, self._failed = self._failed, []
        if remaining or failed:
            raise DeliveryFailed(f"{remaining} unconfirmed, {len(failed)} failed: {failed[:3]}")

    def run(self, stopping: threading.Event, idle_wait: float = 0.05) -> None:
        """Publish until stopped; transient failures wait and retry from the saved position."""
        backoff = Backoff()
        while not stopping.is_set():
            try:
                if self.publish_next() == 0:
                    stopping.wait(idle_wait)
                backoff.reset()
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("relay retrying", error=str(error))
                RETRIES.labels("relay").inc()
                self._position = None  # resume from what the store says was confirmed
                if isinstance(error, DeliveryFailed) and self.renew is not None:
                    self.producer = self.renew()
                backoff.wait(stopping)
