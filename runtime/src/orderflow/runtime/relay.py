"""The relay: publishes a service's new events from its notification log (the outbox) to Kafka.

It reads a batch after its saved position, translates each domain event with the service's own
function (an event may stay private: None) and produces them. Batches are pipelined: while the
broker confirms one, the next is read and produced. The position is saved only up to the last
batch the broker confirmed in full, in order, so a crash republishes the unconfirmed tail
(consumers skip the duplicates) and never marks an unconfirmed event done. The idempotent
producer keeps the order within a partition across batches in flight."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog
from confluent_kafka import KafkaError, Producer
from confluent_kafka import Message as KafkaMessage
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from orderflow.runtime import faults
from orderflow.runtime.kafka import KafkaHeaders, kafka_headers
from orderflow.runtime.lease import EveryInstance, Lease
from orderflow.runtime.metrics import PRODUCED, RELAY_LAG, RETRIES
from orderflow.runtime.recorders import InboxRecorder
from orderflow.runtime.retry import Backoff, is_transient
from orderflow.runtime.writes import Writes
from orderflow.schemas.codec import encode
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.topics import topic_of

log = structlog.get_logger("orderflow.relay")

#: Domain event and its notification id (the integration event's source position) in, the
#: integration event out; None keeps the domain event private to the service.
Translate = Callable[[Any, int], IntegrationEvent | None]


#: How long a caught-up relay waits before it looks at the store again with no write announced.
#: Every write of this process wakes it at once (`Writes`), and so does the ring of another
#: instance (`lease`), so this bounds only a write whose ring was lost. It is also how often a
#: standing-by relay asks for the lease. Looking 20 times a second (50 ms) cost an idle stack
#: ~80 PostgreSQL transactions a second across its four relays, for nothing.
IDLE_WAIT_S = 1.0


#: How long a relay that holds the lease may fail to publish before it gives the lease up, and
#: how long it then stands by before asking for it again.
GIVE_WAY_AFTER_S, SIT_OUT_S = 30.0, 10.0


class DeliveryFailed(ConnectionError):
    """The broker did not confirm every event of a batch; the position stays where it was."""


@dataclass
class _Batch:
    """One batch in flight: the last notification it covers and its unconfirmed messages."""

    last: int
    pending: int = 0
    failures: list[str] = field(default_factory=list)

    def delivered(self, error: KafkaError | None, _: KafkaMessage) -> None:
        self.pending -= 1
        if error is not None:
            self.failures.append(str(error))


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
        in_flight: int = 2,
        topics_are_new: Callable[[], bool] | None = None,
    ) -> None:
        self.app, self.translate, self.producer = app, translate, producer
        self.renew = renew  # a fresh producer after a failed batch (an idempotent producer's
        # failure can be fatal to it), so the retry starts clean from the saved position
        self.name, self.batch_size, self.topic_for = name, batch_size, topic_for
        self.recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
        self.max_in_flight = in_flight
        # whether the topics it writes were never written: then what it saved as published
        # was lost with them (see `_start`)
        self.topics_are_new = topics_are_new
        self._topics_checked = False  # once per relay: a broker that is slow to answer must
        # not hold up every retry (nor a stop) with a fresh client's questions
        # a translator that tells which stored events it publishes spares mapping the others
        self._publishes: Callable[[str], bool] = getattr(translate, "publishes", lambda _: True)
        self._in_flight: deque[_Batch] = deque()
        self._read: int | None = None  # last notification produced; None: ask the store
        self._behind = False  # the last read was a full batch: more may be waiting
        self._rung = 0  # the count of this process's writes last rung (standby)
        self._failing_since: float | None = None  # when publishing began to fail, if it has
        self._sit_out_until = 0.0  # after giving the lease up: not asked for again until then

    def publish_next(self) -> int:
        """Produce the next batch and save the position of what the broker has confirmed; the
        number of notifications read (0: caught up, and everything produced is confirmed)."""
        if self._read is None:
            self._in_flight.clear()
            self._read = self._start()
        notifications = self.recorder.select_notifications(self._read + 1, self.batch_size)
        self._behind = len(notifications) >= self.batch_size
        if notifications:
            self._in_flight.append(self._produce_all(notifications))
            self._read = notifications[-1].id
            self._await_oldest(keep=self.max_in_flight - 1)
        else:
            self._await_oldest(keep=0)
        self._save_confirmed()
        if not notifications and not self._in_flight:
            RELAY_LAG.labels(self.name).set(0)
        return len(notifications)

    def _start(self) -> int:
        """Where to go on from: the saved position, unless the topics were never written since
        (an embedded broker restarted, a topic deleted and made again before anything wrote
        to it). The events published up to it are gone with them, and some may not have been
        read yet: an order would stall for want of one. So it publishes the whole store
        again; consumers skip what they had applied. The rewind is saved before anything is
        produced: once a batch is out the topics are no longer new, and a failure, a crash or
        a lease handed over mid-way must go on from what was published again, not from the
        old position."""
        saved = self.recorder.relay_position(self.name)
        if not saved or self.topics_are_new is None or self._topics_checked:
            return saved
        new = self.topics_are_new()
        if new:
            log.warning(
                "relay publishes again from the start: its topics are new",
                relay=self.name,
                saved=saved,
            )
            self.recorder.rewind_relay_position(self.name)
        self._topics_checked = True  # only now: a failure above asks again at the retry
        return 0 if new else saved

    def settle(self) -> None:
        """Caught up at the last read: wait for the broker to confirm what is in flight and save
        the position, rather than read once more only to find nothing new."""
        self._await_oldest(keep=0)
        self._save_confirmed()

    def rewind(self, first: int) -> None:
        """Publish again from notification `first`, whatever the saved position says."""
        self._in_flight.clear()
        self._read = first - 1

    def reset(self) -> None:
        """Forget what is in flight; the next batch starts from the saved position."""
        self._read = None
        self._in_flight.clear()

    def _produce_all(self, notifications: Sequence[Notification]) -> _Batch:
        batch, produced = _Batch(last=notifications[-1].id), Counter[str]()
        for notification in notifications:
            if not self._publishes(notification.topic):
                continue
            event = self.translate(self.app.mapper.to_domain_event(notification), notification.id)
            if event is None:
                continue
            encoded = encode(event)
            topic = self.topic_for(event)
            self._produce(topic, encoded.key, encoded.value, kafka_headers(encoded.headers), batch)
            produced[topic] += 1
        for topic, count in produced.items():
            PRODUCED.labels(topic).inc(count)
        return batch

    def _produce(
        self, topic: str, key: bytes, value: bytes, headers: KafkaHeaders, batch: _Batch
    ) -> None:
        # counted before it is handed over: a full queue makes us serve delivery reports below,
        # this batch's own among them, and each report takes one off
        batch.pending += 1
        while True:
            try:
                self.producer.produce(
                    topic, value, key, headers=headers, on_delivery=batch.delivered
                )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain, then go on

    def _await_oldest(self, keep: int, timeout: float = 60.0) -> None:
        """Serve delivery reports until at most `keep` batches are unconfirmed."""
        deadline = time.monotonic() + timeout
        self.producer.poll(0)
        while sum(1 for batch in self._in_flight if batch.pending > 0) > keep:
            if time.monotonic() > deadline:
                raise DeliveryFailed(f"no confirmation within {timeout:.0f} s")
            self.producer.poll(0.05)

    def _save_confirmed(self) -> None:
        confirmed: _Batch | None = None
        while self._in_flight and self._in_flight[0].pending <= 0:
            batch = self._in_flight.popleft()
            if batch.failures:
                # a later batch the broker confirmed must never be saved past this one, by a
                # drain or a settle after it: start over from the saved position
                self.reset()
                failed = batch.failures
                raise DeliveryFailed(f"{len(failed)} failed: {failed[:3]}")
            confirmed = batch
        if confirmed is None:
            return
        faults.point("relay.after_produce")
        self.recorder.save_relay_position(self.name, confirmed.last)
        faults.point("relay.after_save")
        # caught up at the last read, the lag is what is still unconfirmed; behind, ask the store
        newest = self.recorder.max_notification_id() if self._behind else self._read or 0
        RELAY_LAG.labels(self.name).set(max(0, newest - confirmed.last))

    def run(
        self,
        stopping: threading.Event,
        idle_wait: float = IDLE_WAIT_S,
        lease: Lease | None = None,
    ) -> None:
        """Publish until stopped, while this instance holds the lease (see `lease`); transient
        failures wait and retry from the saved position."""
        backoff, writes, lease = Backoff(), self.recorder.writes, lease or EveryInstance()
        # a write while this relay held the lease, just before it lost it, is rung too
        self._rung = writes.own
        try:
            while not stopping.is_set():
                if time.monotonic() >= self._sit_out_until and lease.hold():
                    self._publish_or_wait(lease, writes, idle_wait, backoff, stopping)
                else:
                    self._stand_by(lease, writes, idle_wait, stopping)
            self._drain()
        finally:
            lease.close()

    def _publish_or_wait(
        self,
        lease: Lease,
        writes: Writes,
        idle_wait: float,
        backoff: Backoff,
        stopping: threading.Event,
    ) -> None:
        try:
            seen = writes.count  # before reading: a write after this wakes the wait below
            if self.publish_next() < self.batch_size:
                self.settle()
                writes.wait_after(seen, idle_wait)  # this process's writes wake it at once
            backoff.reset()
            self._failing_since = None
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("relay retrying", error=str(error))
            RETRIES.labels("relay").inc()
            self.reset()  # resume from what the store says was confirmed
            self._report_lag_from_store()
            if isinstance(error, DeliveryFailed) and self.renew is not None:
                self.producer = self.renew()
            self._give_way_if_stuck(lease)
            backoff.wait(stopping)

    def _give_way_if_stuck(self, lease: Lease) -> None:
        """After failing for `GIVE_WAY_AFTER_S` (the broker unreachable from this instance
        alone, say), let another instance take the lease, and stand by a while before asking
        for it again; with no other instance, this one takes it back then."""
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        if now - self._failing_since >= GIVE_WAY_AFTER_S and lease.release():
            log.warning("relay gives the lease up while it cannot publish", relay=self.name)
            self._sit_out_until, self._failing_since = now + SIT_OUT_S, None

    def _stand_by(
        self, lease: Lease, writes: Writes, idle_wait: float, stopping: threading.Event
    ) -> None:
        """Another instance publishes: ring it at each write of this process, for one idle
        wait, before asking for the lease again. Whatever this relay had in flight is the
        holder's to publish now; if the lease comes back, it starts from the saved position."""
        if self._in_flight:  # only when the lease was just lost: later rounds have none
            self._drain()
        self.reset()
        self._report_lag_from_store()
        deadline, seen = time.monotonic() + idle_wait, writes.count
        # from the last ring, not from now: a write while this relay asked for the lease or
        # read the lag is rung too
        while not stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if writes.own != self._rung:  # this process's writes only (see `Writes`)
                self._rung = writes.own
                lease.ring()
            seen = writes.wait_after(seen, left)

    def _report_lag_from_store(self) -> None:
        """The lag as the store tells it: what it holds past the saved position. While failures
        keep this relay from publishing, it rises (a gauge left as the last success set it
        would say 0); a standing-by relay reports the holder's progress, so the lag alert
        fires even if no instance holds the lease. (With the store away, it stays as it was.)"""
        try:
            newest = self.recorder.max_notification_id() or 0
            behind = newest - self.recorder.relay_position(self.name)
        except Exception as error:
            if not is_transient(error):
                raise
            return
        RELAY_LAG.labels(self.name).set(max(0, behind))

    def _drain(self, timeout: float = 5.0) -> None:
        """On the way out, save what the broker confirms in time; the rest goes out again."""
        try:
            self._await_oldest(keep=0, timeout=timeout)
            self._save_confirmed()
        except Exception as error:
            log.warning("relay stopped with unconfirmed events", error=str(error))
