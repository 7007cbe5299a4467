"""Client settings for confluent-kafka that hold on any Kafka-compatible broker.

Session and poll-interval timeouts are short on purpose: a group join waits up to the poll
interval for members to rejoin, and the embedded broker would otherwise take ~25 s per join.

Every client a process creates starts from `client_config`, which adds the process's Kafka
options (TLS, SASL: the `kafka_options` setting, see `use_options`), so none is left without
them; the properties our guarantees rest on are never among them (`OWNED_KAFKA_PROPERTIES`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from orderflow.schemas.codec import ReceivedHeaders

_options: dict[str, str] = {}


class HeldBackRepeats(logging.Filter):
    """Lets a librdkafka line through once per `window_s`: with the broker down, every client
    says the same "Connect ... failed" at each reconnect, twenty times a second at first.
    Shared by every client of the process, so by the threads polling them."""

    #: Distinct lines remembered at most; past that a new line passes unremembered (librdkafka
    #: `debug` output, each line different, is not slowed by the bookkeeping).
    MOST = 1000

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self._last: dict[tuple[object, ...], float] = {}
        self._forgot_at = clock()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = self.clock(), _what_it_says(record)
        with self._lock:
            if now - self._forgot_at >= self.window_s:  # at most once a window: linear
                self._last = {k: at for k, at in self._last.items() if now - at < self.window_s}
                self._forgot_at = now
            said_at = self._last.get(key)
            if said_at is not None and now - said_at < self.window_s:
                return False
            if said_at is not None or len(self._last) < self.MOST:
                self._last[key] = now
            return True


def _what_it_says(record: logging.LogRecord) -> tuple[object, ...]:
    # confluent-kafka logs (facility, client name, text): the same text from a process's
    # other clients is the same news
    args = record.args
    if isinstance(args, tuple) and len(args) == 3:
        return (record.levelno, args[0], args[2])
    return (record.levelno, record.getMessage())


#: Every client's librdkafka lines go through `logging`, not straight to stderr: a service
#: writes them as JSON with its own lines, and repeats are held back (`HeldBackRepeats`).
#: confluent-kafka hands them over in `poll()` (and `flush()`), on the polling thread.
LIBRDKAFKA_LOG = logging.getLogger("orderflow.kafka")
LIBRDKAFKA_LOG.addFilter(HeldBackRepeats())


def use_options(options: Mapping[str, str]) -> None:
    """The Kafka options every client of this process adds from now on (set once at start,
    from the settings, before any client is made)."""
    _options.clear()
    _options.update(options)


def client_config(bootstrap: str, **properties: Any) -> dict[str, Any]:
    """A client's configuration: the broker, this process's Kafka options, then `properties`
    (what the caller needs of this client wins)."""
    return _config(bootstrap, {}, properties)


def _config(
    bootstrap: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    # the options may tune our defaults; they cannot name what our guarantees rest on
    return {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOG,
        **defaults,
        **_options,
        **overrides,
    }


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    defaults = {
        "enable.idempotence": True,  # retries never duplicate or reorder within a session
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": 30_000,
    }
    return _config(bootstrap, defaults, overrides)


#: How long the broker may hold a fetch that finds nothing new. The embedded broker holds every
#: fetch that long, even one that found messages at once (it sleeps out the wait before it
#: answers), so under load a message waits for the fetch under way, then a whole one: 36 ms
#: p50 at 50, from its produce to its consumer, at 100 orders/s. Every look at every partition
#: costs it CPU: at 10, placed -> invoiced was no faster at 100 orders/s, the machine having no
#: CPU to spare for the looks. A service's consumer is on the path from placed to invoiced: 50.
#: Read models are not, and a tracking page that shows a step at most half a second later is
#: still live: 500, which also lets their batches grow (at 100 orders/s their PostgreSQL time
#: fell by about a quarter).
SERVICE_FETCH_WAIT_MS, READ_MODEL_FETCH_WAIT_MS = 50, 500


def consumer_config(
    bootstrap: str, group: str, *, fetch_wait_ms: int = SERVICE_FETCH_WAIT_MS, **overrides: Any
) -> dict[str, Any]:
    defaults = {
        "group.id": group,
        "enable.auto.commit": False,  # offsets follow the database commit, never lead it
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 20_000,
        "fetch.wait.max.ms": fetch_wait_ms,  # a default: the Kafka options may tune it
        # what librdkafka fetches ahead of the loop: its 64 MB default would hold a backlog in
        # memory; a few batches ahead keeps the loop busy just as well
        "queued.max.messages.kbytes": 8192,
    }
    return _config(bootstrap, defaults, overrides)


KafkaHeaders = list[tuple[str, str | bytes | None]]


def kafka_headers(headers: list[tuple[str, bytes]]) -> KafkaHeaders:
    """Our headers in the shape confluent-kafka's `produce` is typed for: the same list (it
    only reads them), not a copy per message."""
    return cast(KafkaHeaders, headers)


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    """A consumed message's headers, with a missing value as empty bytes."""
    found = message.headers() or []
    return [
        (name, value if isinstance(value, bytes) else (value or "").encode())
        for name, value in found
    ]


def consumed_headers(message: Any) -> ReceivedHeaders:
    """A consumed message's headers as librdkafka hands them over (values bytes or None), not
    copied: decoding reads four of them, and copying all cost a sixth of decoding a message."""
    return cast(ReceivedHeaders, message.headers())


def where(message: Any) -> tuple[str, int]:
    """(topic, partition) of a consumed message, which always has both."""
    return (str(message.topic()), int(message.partition()))


def new_producer(bootstrap: str, **overrides: Any) -> Producer:
    return Producer(producer_config(bootstrap, **overrides))


def new_consumer(
    bootstrap: str, group: str, *, fetch_wait_ms: int = SERVICE_FETCH_WAIT_MS, **overrides: Any
) -> Consumer:
    return Consumer(consumer_config(bootstrap, group, fetch_wait_ms=fetch_wait_ms, **overrides))


def reason_of(error: KafkaException) -> str:
    """librdkafka's own words for a failure, without the KafkaError{code=...} wrapping."""
    first = error.args[0] if error.args else error
    return first.str() if isinstance(first, KafkaError) else str(first)


@contextmanager
def admin_client(bootstrap: str) -> Iterator[AdminClient]:
    """An admin client whose librdkafka lines are handed over when done with it, why it could
    not reach the broker among them: confluent-kafka serves a client's lines only in `poll()`,
    which nothing else calls on an admin client."""
    admin = AdminClient(client_config(bootstrap))
    try:
        yield admin
    finally:
        admin.poll(0)
