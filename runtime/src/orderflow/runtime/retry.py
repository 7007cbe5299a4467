"""Which failures are worth waiting out, and how long to wait between tries."""

from __future__ import annotations

import random
import sqlite3
import threading
from dataclasses import dataclass

import psycopg
from confluent_kafka import KafkaException
from eventsourcing.persistence import InterfaceError, OperationalError

#: The database or the broker is unreachable or busy: the same work will succeed later.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
    KafkaException,
    ConnectionError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


@dataclass
class Backoff:
    """Exponential back-off with full jitter, capped; `wait` returns early when stopping."""

    first: float = 0.1
    cap: float = 5.0
    attempt: int = 0

    def wait(self, stopping: threading.Event) -> None:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        stopping.wait(random.uniform(0, delay))  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        self.attempt = 0
