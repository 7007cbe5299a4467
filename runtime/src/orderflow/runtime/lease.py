"""One publishing relay per service, however many instances run (the prod overlay runs three);
and one instance at a time of the other followers of a service's store (billing's refunds,
inventory's reservation clock), each under a lease of its own name.

Without it every instance's relay publishes the whole store: each event reaches the topic once
per instance, and every consumer reads and skips the copies. Correct (the inbox absorbs them),
but the broker, the network and every consumer carry the service's traffic several times over.

On PostgreSQL the instances share a store, and a session-level advisory lock names the one that
publishes. The others stand by:
- they ring the holder on each write of their own process (`NOTIFY`, after the commit), so an
  event written on any instance goes out at once, not at the holder's next look at the store;
- they try the lock again every idle wait (1 s), so one takes over within about a second of the
  holder's exit, crash or lost connection (PostgreSQL ends its session, and the lock with it).

Taking over resumes from the saved position, so what the old holder had not confirmed is
published again and skipped downstream: a change of holder may duplicate, never skip.

A SQLite store is one file on one machine: there an exclusive lock on a file beside it names
the instance (`FileLease`), and the holder sees the others' writes by asking SQLite every 50 ms
for the newest event, so they need not ring. An in-memory store is one process's alone:
`EveryInstance`."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import sql
from psycopg.conninfo import make_conninfo

from orderflow.runtime.metrics import RELAY_LEADING
from orderflow.runtime.writes import Writes

log = structlog.get_logger("orderflow.lease")
_LISTEN_S = 1.0  # how long the holder's listener waits for a ring before it looks at `stop`
_LOOK_S = 0.05  # how often a SQLite holder asks whether another process wrote
#: A holder whose follower has not asked for its lease in this long is wedged (its thread stuck
#: in a call that never returns): the holder's own watcher gives the lease up, for another
#: instance to take. Followers ask at least every few seconds, in every state but a stuck one;
#: the longest wait between two asks is the relay's for a batch's confirmation (60 s at most).
WEDGED_AFTER_S = 120.0
#: The advisory-lock space of leases (the two-key form, apart from orderflow's other locks).
_LOCK_SPACE = 7_411_001
#: The lease's connection gives up on a vanished peer (a node lost, a network cut) in seconds,
#: both ways, not after TCP's own two hours: the server ends the holder's session, and so its
#: lock; the holder's listener fails, and so it stops saying it holds the lease.
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "connect_timeout": 3,  # well within a stopping service's drain
}
_SERVER_KEEPALIVE = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
    " -c tcp_user_timeout=10000"
)


class Lease(Protocol):
    def hold(self) -> bool:
        """Whether this instance publishes now; takes the lease if it is free."""

    def ring(self) -> None:
        """Tell the instance that publishes that this one wrote (best effort)."""

    def release(self) -> bool:
        """Give the lease up for another instance to take at once; this one may take it again.
        Whether there was anything to give up."""

    def close(self) -> None:
        """Give the lease up for good: its follower stops."""


class EveryInstance:
    """Every instance publishes: one process per store, or a store nothing can lock."""

    def hold(self) -> bool:
        return True

    def ring(self) -> None:
        pass

    def release(self) -> bool:
        return False

    def close(self) -> None:
        pass


class _HeldByThread:
    """What both leases share: once taken, the lock is a thread's of their own (the holder's
    listener or watcher), which lets it go on its way out, when told to, when its connection
    fails or when the follower is wedged; `hold` then sees that thread ended."""

    def __init__(self, name: str, writes: Writes) -> None:
        self.name, self.writes = name, writes
        self._holder: threading.Thread | None = None
        self._stop = threading.Event()  # the current holder thread's
        self._asked_at = time.monotonic()
        RELAY_LEADING.labels(name).set(0)

    @property
    def held(self) -> bool:
        """Whether this instance holds the lease, as far as it knows, without asking for it."""
        return self._holder is not None and self._holder.is_alive()

    def hold(self) -> bool:
        self._asked_at = time.monotonic()
        if self._holder is not None:
            if self._holder.is_alive():
                return True
            self._forget()  # it ended, and the lock went with it
        return self._take()

    def release(self) -> bool:
        holder = self._holder
        if holder is not None:
            self._stop.set()
            holder.join(_LISTEN_S * 2)  # it lets the lock go on its way out
            self._forget()
        return holder is not None

    def close(self) -> None:
        self.release()

    def _take(self) -> bool:
        raise NotImplementedError

    def _hand_over(self, keep: Callable[[threading.Event], None]) -> None:
        """The lock just taken is `keep`'s from here, in a thread of its own, until its event."""
        self._stop = threading.Event()
        self._holder = threading.Thread(
            target=keep, args=(self._stop,), name=f"lease-{self.name}", daemon=True
        )
        RELAY_LEADING.labels(self.name).set(1)  # before it starts: one that fails sets 0
        self._holder.start()
        log.info("lease taken: this instance runs it", lease=self.name)

    def _ended(self, stop: threading.Event) -> None:
        """The holder thread of `stop` let the lock go."""
        if self._stop is stop:  # still this instance's holder: it no longer leads
            RELAY_LEADING.labels(self.name).set(0)

    def _forget(self) -> None:
        self._holder = None
        RELAY_LEADING.labels(self.name).set(0)


class PostgresLease(_HeldByThread):
    """The advisory lock `orderflow-lease:{schema}:{name}` on a connection of its own, which
    the holder also LISTENs on for the others' rings.

    A standby's connection is its follower's thread's (asking for the lock, ringing); once the lock
    is taken, the connection is the listener thread's alone, which closes it on its way out,
    and with it the lock: no two threads ever use it at once."""

    def __init__(self, database_url: str, schema: str, name: str, writes: Writes) -> None:
        super().__init__(name, writes)
        self.database_url = database_url
        self.key = f"orderflow-lease:{schema}:{name}"
        # a channel is an identifier (at most 63 bytes): a digest of the key fits any schema
        self.channel = "orderflow_lease_" + hashlib.sha256(self.key.encode()).hexdigest()[:24]
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None  # standby's

    def ring(self) -> None:
        try:
            self._connect().execute("SELECT pg_notify(%s, '')", [self.channel])
        except psycopg.Error as error:
            log.info("lease ring failed", lease=self.name, error=str(error))
            self._disconnect()  # the holder still looks at the store every idle wait

    def release(self) -> bool:
        released = super().release()
        self._disconnect()
        return released

    def _take(self) -> bool:
        try:
            connection = self._connect()
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_LOCK_SPACE, self.key]
            ).fetchone()
            if not (row and row[0]):
                return False
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as error:
            log.warning("lease unavailable", lease=self.name, error=str(error))
            self._disconnect()
            return False
        self._connection = None  # the listener's from here
        self._hand_over(functools.partial(self._listen, connection))
        return True

    def _listen(
        self, connection: psycopg.Connection[tuple[object, ...]], stop: threading.Event
    ) -> None:
        """Each ring wakes the relay as a write of this process would."""
        try:
            while not stop.is_set() and not _wedged(self._asked_at, self.name):
                if any(True for _ in connection.notifies(timeout=_LISTEN_S)):
                    self.writes.wake()
        except psycopg.Error as error:
            log.warning("lease lost", lease=self.name, error=str(error))
        finally:
            connection.close()
            self._ended(stop)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            conninfo = make_conninfo(self.database_url, options=_SERVER_KEEPALIVE, **_KEEPALIVE)
            self._connection = psycopg.connect(conninfo, autocommit=True)
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class FileLease(_HeldByThread):
    """An exclusive `flock` on `<store file>.<name>.lease`, which the kernel lets go when the
    file is closed or its process ends, however it ends. Once taken, the file is the watcher
    thread's, which closes it on its way out: it asks the store for its newest event, and wakes
    the follower, as a write of its own process would, when another process wrote it."""

    def __init__(self, database: str, newest_query: str, name: str, writes: Writes) -> None:
        super().__init__(name, writes)
        self.database, self.newest_query = database, newest_query
        self.path = Path(f"{database}.{name}.lease")

    def ring(self) -> None:
        pass  # the holder watches the store itself

    def _take(self) -> bool:
        try:
            file = self.path.open("ab")  # held open for as long as the lease is
        except OSError as error:
            log.warning("lease unavailable", lease=self.name, error=str(error))
            return False
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            file.close()
            if not isinstance(error, BlockingIOError):  # held elsewhere: the usual answer
                log.warning("lease unavailable", lease=self.name, error=str(error))
            return False
        self._hand_over(functools.partial(self._watch, file))
        return True

    def _watch(self, file: IO[bytes], stop: threading.Event) -> None:
        try:
            connection = sqlite3.connect(self.database)
            try:
                told = 0
                while not stop.wait(_LOOK_S) and not _wedged(self._asked_at, self.name):
                    newest = self._newest(connection)
                    # an event past this process's newest is another's. One before it was
                    # committed before that newest one, whose announcement woke the followers
                    # after: they read it then. (Telling them of every commit cost a wasted
                    # read of the store per look, 6% of the stack's speed.)
                    if newest > max(told, self.writes.newest):
                        told = newest
                        self.writes.wake()
            finally:
                connection.close()
        except sqlite3.Error as error:
            log.warning("lease lost", lease=self.name, error=str(error))
        finally:
            file.close()
            self._ended(stop)

    def _newest(self, connection: sqlite3.Connection) -> int:
        row = connection.execute(self.newest_query).fetchone()
        return int(row[0] or 0)


def _wedged(asked_at: float, name: str) -> bool:
    if time.monotonic() - asked_at <= WEDGED_AFTER_S:
        return False
    log.error(
        "lease given up: its follower has not asked for it in time; wedged?",
        lease=name,
        seconds=WEDGED_AFTER_S,
    )
    return True


def lease_for(app: Application[UUID], name: str) -> Lease:
    """The lease of one of the followers of `app`'s store (its relay, a worker), named `name`:
    one instance's follower runs at a time, but on a store in memory (one process's alone)."""
    datastore = getattr(app.recorder, "datastore", None)
    writes: Writes = app.recorder.writes  # type: ignore[attr-defined]
    if isinstance(datastore, SQLiteDatastore) and not datastore.pool.is_sqlite_memory_mode:
        newest = app.recorder.select_max_notification_id_statement  # type: ignore[attr-defined]
        return FileLease(datastore.pool.db_name, newest, name, writes)
    if not isinstance(datastore, PostgresDatastore):
        return EveryInstance()
    kwargs = datastore.pool.kwargs  # the pool's connection arguments (or what makes them)
    given = (kwargs() if callable(kwargs) else kwargs) or {}
    parts = {key: given[key] for key in ("dbname", "host", "port", "user", "password")}
    url = make_conninfo("", **{key: value for key, value in parts.items() if value})
    return PostgresLease(url, datastore.schema, name, writes)
