"""Instances of a service on one store: one relay publishes, hears the others' writes at once
(on PostgreSQL they ring it; on SQLite it watches the file) and another takes over when it
goes."""

from __future__ import annotations

import threading
import time
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

from orderflow.runtime import lease
from orderflow.runtime import relay as relay_module
from orderflow.runtime.broker import free_port
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.lease import FileLease, PostgresLease, lease_for
from orderflow.runtime.relay import Relay
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration
RELAY = "ledger-kafka"


class Instance:
    """One instance of the ledger service: its own application (pool, writes), relay, lease."""

    def __init__(self, store: Store, bootstrap: str, topic: str) -> None:
        self.app = Ledgers(env=store.env)
        self.relay: Relay = relay_for(self.app, bootstrap, topic)
        self.relay.name = RELAY
        self.lease = lease_for(self.app, RELAY)
        self.stopping = threading.Event()

    @property
    def holds(self) -> bool:
        return isinstance(self.lease, PostgresLease | FileLease) and self.lease.held

    def write(self, numbers: range) -> None:
        events = [stock_received(n) for n in numbers]
        apply_batch(self.app, {StockReceived: on_stock_received}, events)

    @contextmanager
    def leading(self, idle_wait: float) -> Iterator[Instance]:
        """Running, once it holds the lease."""
        with self.running(idle_wait):
            wait_for(lambda: self.holds, 10, "the lease to be taken", every=0.1)
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


def two_instances(
    settings: Settings, bootstrap: str, unique: Callable[[str], str]
) -> tuple[str, Instance, Instance]:
    """Two instances of a service on one store, and the topic they publish to."""
    store = store_for(unique("svc"), settings)
    topic = unique("out")
    ensure_topics(bootstrap, [topic], 2)
    first, second = (Instance(store, bootstrap, topic) for _ in range(2))
    return topic, first, second


@pytest.fixture
def pair(
    database_url: str, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> tuple[str, Instance, Instance]:
    """Two instances on one PostgreSQL store."""
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    return two_instances(settings, kafka_bootstrap, unique)


@pytest.fixture(params=["postgres", "sqlite"])
def pair_on_either(
    request: pytest.FixtureRequest,
    kafka_bootstrap: str,
    unique: Callable[[str], str],
    tmp_path: Path,
) -> tuple[str, Instance, Instance]:
    """Two instances on one store, of each kind."""
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    settings = Settings(data_dir=tmp_path, database_url=url)
    return two_instances(settings, kafka_bootstrap, unique)


def references(events: list[StockReceived]) -> Counter[str]:
    return Counter(event.reference for event in events)


def test_one_instance_publishes_and_hears_the_others_writes_at_once(
    pair_on_either: tuple[str, Instance, Instance], kafka_bootstrap: str
) -> None:
    # Given two instances on one store, the first holding the lease; its relay looks at the
    # store on its own only once a minute, so only the lease can bring it the second's writes
    topic, first, second = pair_on_either
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
    pair_on_either: tuple[str, Instance, Instance], kafka_bootstrap: str
) -> None:
    # Given the holder publishing, and a second instance asking for the lease every 0.2 s
    topic, first, second = pair_on_either
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
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND classid = %s",
                [lease._LOCK_SPACE],
            )

        # then the other takes the lease, and the first learns it no longer holds it
        wait_for(second.lease.hold, 10, "the second to take the lease", every=0.1)
        wait_for(lambda: not first.lease.hold(), 10, "the first to see it lost", every=0.1)
    finally:
        first.lease.close()
        second.lease.close()


class Elsewhere:
    """A lease another instance holds: counts this instance's rings."""

    def __init__(self) -> None:
        self.rings = 0

    def hold(self) -> bool:
        return False

    def ring(self) -> None:
        self.rings += 1

    def release(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_a_standby_rings_after_its_own_writes_only(
    kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    # Given a relay standing by while another instance holds its lease
    settings = Settings(data_dir=tmp_path, database_url=None)
    _, instance, _ = two_instances(settings, kafka_bootstrap, unique)
    elsewhere = Elsewhere()
    thread = threading.Thread(
        target=instance.relay.run, args=(instance.stopping, 0.2, elsewhere), daemon=True
    )
    thread.start()
    try:
        # when this process hears of other processes' writes (the ring of a lease it holds
        # for another follower), then of one write of its own
        for _ in range(5):
            instance.app.recorder.writes.wake()
            time.sleep(0.05)
        heard_only = elsewhere.rings
        instance.write(range(1, 2))
        wait_for(lambda: elsewhere.rings > heard_only, 5, "a ring", every=0.05)
        time.sleep(0.3)  # a second look of the standby's
    finally:
        instance.stop(thread)

    # then it rang once, for its own write: ringing after what it heard, two instances each
    # holding one of two leases rang each other for ever
    assert (heard_only, elsewhere.rings) == (0, 1)


def test_a_holder_whose_follower_is_wedged_gives_the_lease_to_another(
    pair_on_either: tuple[str, Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one instance holding the lease, whose follower then never asks for it again (its
    # thread stuck, the process alive), with a wedge told after half a second
    monkeypatch.setattr(lease, "WEDGED_AFTER_S", 0.5)
    _, first, second = pair_on_either
    try:
        assert first.lease.hold()
        assert not second.lease.hold()

        # then its own watcher gives the lease up, and the other instance takes it
        wait_for(second.lease.hold, 10, "the second to take the lease", every=0.1)
        assert not first.holds
    finally:
        first.lease.close()
        second.lease.close()


def test_a_holder_that_cannot_publish_gives_the_lease_to_another(
    pair: tuple[str, Instance, Instance], kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a holder whose broker does not answer (from it alone), which gives way after
    # failing for half a second, and a second instance that reaches the broker
    monkeypatch.setattr(relay_module, "GIVE_WAY_AFTER_S", 0.5)
    topic, first, second = pair
    first.relay.producer = new_producer(f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 500})
    first.write(range(1, 51))
    with first.leading(idle_wait=60), second.running(idle_wait=0.2):
        # when the holder keeps failing to publish
        events = published(kafka_bootstrap, topic, lambda got: len(got) >= 50)
        gave_way = not first.holds and second.holds

    # then the second took the lease and published what the first could not
    assert references(events) == Counter(f"in-{n}" for n in range(1, 51))
    assert gave_way, "the lease moved to the instance that can publish"
