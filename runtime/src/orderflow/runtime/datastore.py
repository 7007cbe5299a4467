"""The library's PostgreSQL datastore, save that a connection the pool cannot give in time fails
at once, as a transient failure, rather than being asked for again and again.

The library retries each read and write ten times on its `OperationalError`, and the pool's
`PoolTimeout` becomes one. With the database refusing connections (a restart, a failover), a
read waited ten times the pool's 30 s: an API request had no answer for minutes, where the
service host promises a 503. Now the pool waits `POOL_WAIT_S` once and raises
`StoreUnavailable`, which the host answers with 503 and the consumer and relay wait out like
any transient failure. A connection lost mid-query is still retried by the library, on a new
one, so a database back from a restart costs no request an error.

It also closes from a thread of its own: an application the garbage collector finds in a
reference cycle may be collected on one of its pool's threads, and the pool's close, which joins
them all, cannot join the thread it runs on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

#: How long a thread waits for a pooled connection (the library's POSTGRES_CONNECT_TIMEOUT):
#: longer than the pool is ever exhausted under load, far shorter than a client's patience.
POOL_WAIT_S = 5


class StoreUnavailable(ConnectionError):
    """The store gave no connection within `POOL_WAIT_S`: it is down or refusing them."""


class BriefWaitDatastore(PostgresDatastore):
    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        try:
            with super().get_connection() as connection:
                yield connection
        except OperationalError as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise StoreUnavailable(f"PostgreSQL gave no connection: {error}") from error
            raise

    def close(self) -> None:
        if _runs_on_a_thread_of(self):
            # a daemon, as the pool's own threads are: at interpreter exit it may not finish
            threading.Thread(target=super().close, name="closing-datastore", daemon=True).start()
        else:
            super().close()


def _runs_on_a_thread_of(datastore: PostgresDatastore) -> bool:
    # the pool names its scheduler and workers after itself: "pool-7-worker-0"
    pool = getattr(datastore, "pool", None)  # absent when construction failed
    return pool is not None and threading.current_thread().name.startswith(f"{pool.name}-")
