"""Instances of a service on one PostgreSQL store: one relay publishes, the others ring it at
their writes and take over when it goes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from feed import stock_received
from ledger_service import Ledgers, on_stock_received
from processes import wait_for
from relays import published, relay_for

from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.lease import EveryInstance, PostgresLease, relay_lease
from orderflow.runtime.relay import Relay
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration
RELAY = "ledger-kafka"


class Instance:
    """One instance of the ledger service: its own application (pool, writes), relay, lease."""

    def __init__(self, store: Store, url: str, bootstrap: str, topic: str) -> None:
        self.app = Ledgers(env=store.env)
        self.relay: Relay = relay_for(self.app, bootstrap, topic)
        self.relay.name = RELAY
        self.lease = PostgresLease(url, store.service, RELAY, self.app.recorder.writes)
        self.stopping = threading.Event()

    def write(self, numbers: range) -> None:
        events = [stock_received(n) for n in numbers]
        apply_batch(self.app, {StockReceived: on_stock_received}, events)

    @contextmanager
    def leading(self, idle_wait: float) -> Iterator[Instance]:
        """Running, once it holds the lease."""
        with self.running(idle_wait):
            wait_for(lambda: self.lease.held, 10, "the lease to be taken", every=0.1)
            yield self

    @contextmanager
    def running(self, idle_wait: float) -> Iterator[Instance]:
        thread = threading.Thread(
            target=self.relay.run, args=(self.stopping, idle_wait, self.lease), daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self.stop(thread)

    def stop(self, thread: threading.Thread | None = None) -> None:
        self.stopping.set()
        self.app.recorder.writes.announce()  # wakes its relay from the idle wait
        if thread is not None:
            thread.join(10)


@pytest.fixture
def pair(
    database_url: str, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> tuple[str, Instance, Instance]:
    """Two instances of a service on one PostgreSQL store, and the topic they publish to."""
    store = store_for(unique("svc"), Settings(data_dir=tmp_path, database_url=database_url))
    topic = unique("out")
    ensure_topics(kafka_bootstrap, [topic], 2)
    first, second = (Instance(store, database_url, kafka_bootstrap, topic) for _ in range(2))
    return topic, first, second


def references(events: list[StockReceived]) -> Counter[str]:
    return Counter(event.reference for event in events)


def test_one_instance_publishes_and_hears_the_others_writes_at_once(
    pair: tuple[str, Instance, Instance], kafka_bootstrap: str
) -> None:
    # Given two instances on one store, the first holding the lease; it looks at the store on
    # its own only once a minute, so only a ring can bring it the second's writes in time
    topic, first, second = pair
    with first.leading(idle_wait=60), second.running(idle_wait=60):
        # when each instance writes
        second.write(range(1, 101))
        first.write(range(101, 151))
        second.write(range(151, 201))
        events = published(kafka_bootstrap, topic, lambda got: len(got) >= 200)
        standing_by = not second.lease.held

    # then every event went out once, by the lease's holder alone, well within its idle wait
    assert references(events) == Counter(f"in-{n}" for n in range(1, 201)), "each once"
    assert standing_by, "the second stood by throughout"


def test_another_instance_takes_over_when_the_holder_stops(
    pair: tuple[str, Instance, Instance], kafka_bootstrap: str
) -> None:
    # Given the holder publishing, and a second instance asking for the lease every 0.2 s
    topic, first, second = pair
    with first.leading(idle_wait=60), second.running(idle_wait=0.2):
        first.write(range(1, 51))
        published(kafka_bootstrap, topic, lambda got: len(got) >= 50)
        first.stop()  # when the holder stops, and the second instance writes
        second.write(range(51, 101))
        events = published(kafka_bootstrap, topic, lambda got: len(got) >= 100)

    # then the second took over from the saved position: all published, none twice
    assert references(events) == Counter(f"in-{n}" for n in range(1, 101))


def test_a_holder_whose_connection_ends_loses_the_lease_to_another(
    pair: tuple[str, Instance, Instance], database_url: str
) -> None:
    # Given one instance holding the lease and another that does not
    _, first, second = pair
    try:
        assert first.lease.hold()
        assert not second.lease.hold()

        # when PostgreSQL ends the holder's session (a restart, a failover, a network cut)
        holder = first.lease._connect().info.backend_pid
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [holder])

        # then the other takes the lease, and the first learns it no longer holds it
        wait_for(second.lease.hold, 10, "the second to take the lease", every=0.1)
        wait_for(lambda: not first.lease.hold(), 10, "the first to see it lost", every=0.1)
    finally:
        first.lease.close()
        second.lease.close()


def test_sqlite_instances_each_publish(tmp_path: Path, unique: Callable[[str], str]) -> None:
    # Given a service on SQLite (one file, one machine: nothing to lock or ring across)
    settings = Settings(data_dir=tmp_path, database_url=None)
    store = store_for(unique("svc"), settings)

    # when its relay asks for its lease
    lease = relay_lease(settings, store.service, RELAY, Ledgers(env=store.env).recorder.writes)

    # then every instance publishes, as before
    assert isinstance(lease, EveryInstance)
    assert lease.hold()
