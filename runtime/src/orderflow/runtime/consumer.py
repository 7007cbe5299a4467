"""The consumer loop: Kafka in, exactly-once effects out.

One thread polls a batch, decodes it, applies it through the inbox (one database transaction),
dead-letters what can never be applied, and only then commits the Kafka offsets. A crash at any
point replays at most the uncommitted batch, which the inbox then skips. Rebalance callbacks run
inside `poll()` and `consume()` on this same thread, so a partition never moves while its batch is
half done."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from uuid import UUID

import structlog
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from orderflow.runtime import faults
from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.deadletters import DeadLetterPublisher
from orderflow.runtime.inbox import Applied, Finds, Handlers, apply_batch, log_ids
from orderflow.runtime.kafka import consumed_headers, where
from orderflow.runtime.metrics import BATCH_SECONDS, CONSUMED, CONSUMER_LAG, RETRIES, SKIPPED
from orderflow.runtime.retry import Backoff, is_transient
from orderflow.schemas.codec import contract_type, decode
from orderflow.schemas.envelope import Message
from orderflow.schemas.errors import DecodeError
from orderflow.schemas.topics import DEAD_LETTERS, INBOUND_TOPICS

log = structlog.get_logger("orderflow.consumer")
#: Whole-batch attempts after a version conflict before the batch is halved (see
#: `_apply_in_halves`): most conflicts are a cached aggregate another writer changed, which the
#: next attempt reloads.
_CONFLICT_RETRIES = 3
#: Attempts at one isolated event, each after a jittered back-off: a race with another writer
#: of the same aggregate (a second instance, an API call) ends within a few; only an event that
#: conflicts every time (a handler creating an aggregate that exists) runs out, ~2 s in all.
_ISOLATED_ATTEMPTS = 10
_LAG_EVERY_S = 5.0
#: How long a batch waits to fill once its first message is here, by default (a service's
#: consumers take `consumer_linger_ms` from the settings). `consume(n, timeout)` alone
#: would hold a lone message until n came or the whole timeout passed (200 ms: 100 ms per hop
#: on average); not waiting at all makes batches so small that their fixed costs (transaction,
#: inbox lookup, offset commit, relay wake-up) nearly double the CPU per order at moderate load.
#: Measured with `orderflow up --orders 1500 --rate 60` on PostgreSQL: placed -> invoiced p50
#: 0.61 s -> 0.36-0.40 s for about a third more CPU; at saturation the batches fill anyway.
LINGER_S = 0.05
Decoded = tuple[KafkaMessage, Message]
#: The loops running in this process, by consumer group, for readiness checks that know which
#: groups should be joined (a projection's live generation) but do not hold the loop itself.
_RUNNING: dict[str, ConsumerLoop] = {}
#: Turns a message the contracts refuse into one a handler answers (order intake turns an invalid
#: submission into its rejection); None dead-letters it as usual.
Rescue = Callable[[DecodeError], Message | None]
#: Applies a batch of decoded messages in one transaction, exactly once (an event store's
#: handlers through the inbox, or a read model's writes with its tracking rows).
Apply = Callable[[Sequence[Message]], Applied]
#: Whether the loop can pass a message by unread: it names a valid contract no handler takes.
Ignored = Callable[[KafkaMessage], bool]


class ConsumerLoop:
    def __init__(
        self,
        apply: Apply,
        consumer: Consumer,
        topics: Sequence[str],
        dead_letters: DeadLetterPublisher,
        stopping: threading.Event,
        batch_size: int = 500,
        rescue: Rescue | None = None,
        ignored: Ignored | None = None,
        linger_s: float = LINGER_S,
    ) -> None:
        self.apply, self.consumer = apply, consumer
        self.topics, self.dead_letters, self.stopping = list(topics), dead_letters, stopping
        self.batch_size, self.rescue, self.ignored = batch_size, rescue, ignored
        self.linger_s = linger_s
        self.group = dead_letters.group
        self.assigned: set[tuple[str, int]] = set()
        self.joined = threading.Event()  # the group has given this member its share (maybe none)
        # messages done with, whatever became of each (applied, skipped, dead-lettered), and
        # the size and time of the last batch: how a rebuild tells it has caught up
        self.taken, self.last_batch = 0, (0, 0.0)
        self._stash: list[KafkaMessage] = []
        self._moved: set[tuple[str, int]] = set()  # revoked since the batch in hand was polled
        self._lag_at = 0.0

    @classmethod
    def build(
        cls,
        app: Application[UUID],
        handlers: Handlers,
        consumer: Consumer,
        producer: Producer,
        topics: Sequence[str],
        group: str,
        stopping: threading.Event,
        batch_size: int = 500,
        dead_letter_topic: str = DEAD_LETTERS,
        rescue: Rescue | None = None,
        finds: Finds | None = None,
        linger_s: float = LINGER_S,
    ) -> ConsumerLoop:
        publisher = DeadLetterPublisher(producer, group, dead_letter_topic)
        # the cache is this loop's alone: it runs on this loop's thread only
        apply = functools.partial(apply_batch, app, handlers, cache=AggregateCache(), finds=finds)
        ignored = functools.partial(_not_handled, {cls.event_type() for cls in handlers})
        return cls(
            apply, consumer, topics, publisher, stopping, batch_size, rescue, ignored, linger_s
        )

    def run(self) -> None:
        _RUNNING[self.group] = self
        self.consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self.stopping.is_set():
                self.poll_once()
        finally:
            self.consumer.close()  # leaves the group at once, so partitions move without delay
            self._forget_lag(self.assigned)
            if _RUNNING.get(self.group) is self:
                del _RUNNING[self.group]

    def poll_once(self, timeout: float = 0.2) -> int:
        messages, self._stash = self._stash, []
        if not messages:
            messages = self._consume(timeout)
        messages = [m for m in messages if m.error() is None]
        if messages:
            self.process(messages)
        self._report_lag()
        return len(messages)

    def _consume(self, timeout: float) -> list[KafkaMessage]:
        """Wait for the first message, then at most `linger_s` for the batch to fill."""
        first = self.consumer.poll(timeout)
        if first is None:
            return []
        if self.batch_size == 1:
            return [first]
        return [first, *self.consumer.consume(self.batch_size - 1, timeout=self.linger_s)]

    def process(self, messages: list[KafkaMessage]) -> None:
        started = time.perf_counter()
        self._moved = set()
        decoded = self._decode(messages)
        self._apply_until_done(decoded)
        # a partition taken away while this batch waited had its messages dropped from it: even
        # if it came back, they were not applied, so their offsets must not be committed
        held_throughout = self.assigned - self._moved
        kept = [m for m in messages if where(m) in held_throughout]
        self._retry_transient("dead letters", self.dead_letters.flush)
        faults.point("consumer.after_db_commit")
        self._commit_offsets(kept)
        self.taken += len(kept)  # a moved partition's messages are read again
        self.last_batch = (len(messages), time.monotonic())
        BATCH_SECONDS.labels(self.dead_letters.group).observe(time.perf_counter() - started)

    def _decode(self, messages: list[KafkaMessage]) -> list[Decoded]:
        """Decode what a handler takes; a service's topics carry more types than it reacts to,
        and those (having no effect) need neither validating nor an inbox row."""
        decoded, passed = [], Counter[str]()
        for message in messages:
            if self.ignored is not None and self.ignored(message):
                passed[message.topic() or ""] += 1
                continue
            try:
                decoded.append((message, decode(message.value(), consumed_headers(message))))
            except DecodeError as error:
                rescued = self.rescue(error) if self.rescue else None
                if rescued is None:
                    self.dead_letters.send(message, error.reason, error.detail, error.field)
                else:
                    decoded.append((message, rescued))
        for topic, count in passed.items():
            CONSUMED.labels(topic).inc(count)
        return decoded

    def _apply_until_done(self, decoded: list[Decoded], attempts: int = _CONFLICT_RETRIES) -> None:
        backoff, conflicts = Backoff(), 0
        while decoded:
            try:
                self._record(decoded, self.apply([e for _, e in decoded]))
                return
            except IntegrityError as error:
                conflicts += 1  # another instance applied the same events, or a version clash
                halved = conflicts >= attempts
                then = "halved" if halved else "retried"
                log.info(f"version conflict; batch {then}", attempt=conflicts, error=str(error))
                if halved:
                    self._apply_in_halves(decoded)
                    return
            except Exception as error:
                decoded = self._wait_out_transient(error, decoded, backoff)

    def _apply_in_halves(self, decoded: list[Decoded]) -> None:
        """Isolate the event that keeps conflicting, so one bad event never blocks the rest:
        each half is tried once, and halved again if it conflicts, down to the event alone.
        A batch that lost races with another writer (an API call on a hot aggregate) goes in a
        few transactions, not one per event as it once did (11% of inventory's time in a
        saturation run); an event that conflicts every time is found in log2(n) steps."""
        if len(decoded) == 1:
            self._apply_alone(*decoded[0])
            return
        middle = len(decoded) // 2
        for half in (decoded[:middle], decoded[middle:]):  # in order: an aggregate's events too
            # a wait out of a transient failure in the half before polls, and may have seen a
            # partition taken away: its events are the new owner's now, in their order
            half = [d for d in half if where(d[0]) in self.assigned - self._moved]
            if len(half) == 1:
                self._apply_alone(*half[0])
            elif half:
                self._apply_until_done(half, attempts=1)

    def _apply_alone(self, message: KafkaMessage, event: Message) -> None:
        error = self._apply_isolated(message, event)
        if error is not None:
            log.error(
                "event conflicts on every attempt; dead-lettered",
                error=str(error),
                topic=message.topic(),
                **log_ids(event),
            )
            self.dead_letters.send(message, "conflict", str(error), None)

    def _apply_isolated(self, message: KafkaMessage, event: Message) -> IntegrityError | None:
        """Apply one event, reloading what it touches after each conflict; the last conflict
        when every attempt met one. Stopping meanwhile leaves it for the next start. A transient
        failure is waited out as for a whole batch, and is no attempt: an outage must not turn
        an event that would apply into a dead letter."""
        backoff, outage, last = Backoff(first=0.02, cap=1.0), Backoff(), None
        conflicts = 0
        while conflicts < _ISOLATED_ATTEMPTS:
            try:
                self._record([(message, event)], self.apply([event]))
                return None
            except IntegrityError as error:
                if self.stopping.is_set():
                    raise  # uncommitted: redelivered after the restart, never dead-lettered
                conflicts, last = conflicts + 1, error
                backoff.wait(self.stopping)
            except Exception as error:
                if not self._wait_out_transient(error, [(message, event)], outage):
                    return None  # its partition moved meanwhile: the new owner applies it
        return last

    def _record(self, decoded: list[Decoded], outcome: Applied) -> None:
        for topic, count in Counter(decoded[i][0].topic() for i in outcome.skipped).items():
            SKIPPED.labels(topic).inc(count)
        for failure in outcome.failed:
            message = decoded[failure.index][0]
            log.error("handler failed; dead-lettered", error=str(failure), topic=message.topic())
            self.dead_letters.send(message, "handler_failed", str(failure), None)
        for topic, count in Counter(message.topic() for message, _ in decoded).items():
            CONSUMED.labels(topic).inc(count)

    def _wait_out_transient(
        self, error: Exception, decoded: list[Decoded], backoff: Backoff
    ) -> list[Decoded]:
        """Wait after a failure the same work will get past later (the database or the broker
        unreachable); what is still this member's to apply. Anything else, or a failure while
        stopping, is raised: the loop ends and the batch, uncommitted, is read again."""
        if not is_transient(error) or self.stopping.is_set():
            raise error
        log.warning("transient failure, will retry", stage="apply", error=str(error))
        RETRIES.labels("apply").inc()
        return self._wait_keeping_membership(decoded, backoff)

    def _wait_keeping_membership(self, decoded: list[Decoded], backoff: Backoff) -> list[Decoded]:
        """Wait out a transient failure while still polling (paused), so the group does not evict
        this member; messages polled meanwhile are kept for later, never dropped."""
        assignment = self.consumer.assignment()
        self.consumer.pause(assignment)
        backoff.wait(self.stopping)
        self._stash.extend(
            m for m in self.consumer.consume(self.batch_size, 0) if m.error() is None
        )
        self.consumer.resume([tp for tp in assignment if (tp.topic, tp.partition) in self.assigned])
        self._stash = [m for m in self._stash if (m.topic(), m.partition()) in self.assigned]
        # a partition taken away meanwhile is the new owner's, even if it came back: its
        # messages are read again from the committed offset
        held = self.assigned - self._moved
        return [d for d in decoded if where(d[0]) in held]

    def _retry_transient(self, stage: str, action: object) -> None:
        backoff = Backoff()
        while True:
            try:
                action()  # type: ignore[operator]
                return
            except Exception as error:
                if not is_transient(error) or self.stopping.is_set():
                    raise
                RETRIES.labels(stage).inc()
                backoff.wait(self.stopping)

    def _commit_offsets(self, messages: list[KafkaMessage]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for message in messages:
            key = where(message)
            ends[key] = max(ends.get(key, -1), int(message.offset() or 0) + 1)
        if ends:
            offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
            self.consumer.commit(offsets=offsets, asynchronous=True)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        self.joined.set()
        log.info("partitions assigned", partitions=sorted(self.assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= revoked
        self._moved |= revoked
        self._forget_lag(revoked)
        self._stash = [m for m in self._stash if (m.topic(), m.partition()) in self.assigned]
        log.info(
            "partitions revoked", partitions=sorted((tp.topic, tp.partition) for tp in partitions)
        )

    def _report_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < _LAG_EVERY_S or not self.assigned:
            return
        self._lag_at = now
        for tp in self.consumer.position([TopicPartition(t, p) for t, p in self.assigned]):
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                lag = max(0, high - tp.offset)
                CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(lag)

    def _forget_lag(self, partitions: set[tuple[str, int]]) -> None:
        """Take away the lag series of partitions this member no longer holds: their last value
        would otherwise stand for ever, summed with what the new owner reports."""
        for topic, partition in partitions:
            CONSUMER_LAG.remove(self.group, topic, str(partition))  # a no-op if never reported


def has_joined(group: str) -> bool:
    """Whether a loop of this process runs in `group` and the group has given it its share."""
    loop = _RUNNING.get(group)
    return loop is not None and loop.joined.is_set()


def _not_handled(handled: set[str], message: KafkaMessage) -> bool:
    return passes_unread(handled, contract_type(consumed_headers(message)), message.topic())


def passes_unread(handled: set[str], contract: str | None, topic: str | None) -> bool:
    """A message naming a contract no handler takes, on a topic only our relays write to: it
    has no effect here. Topics other systems write to are read in full, so that a mislabelled
    message there is dead-lettered, never passed by."""
    return contract is not None and contract not in handled and topic not in INBOUND_TOPICS
