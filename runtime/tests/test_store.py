"""Each service's event store: a SQLite file or a PostgreSQL schema of its own, really written."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from psycopg import sql
from psycopg_pool import ConnectionPool
from psycopg_pool.pool import MaintenanceTask

from orderflow.runtime.datastore import StoreUnavailable
from orderflow.runtime.loading import ServiceApplication, load_all
from orderflow.runtime.retry import is_transient
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for
from orderflow.runtime.testing import failures_at_once

pytestmark = pytest.mark.integration

App = TypeVar("App", bound=Application[UUID])


class Opener(Protocol):
    def __call__(self, app: App) -> App: ...


@pytest.fixture
def opened() -> Iterator[Opener]:
    """Applications a test opens, closed when it ends. One left to the garbage collector (an
    exception's traceback easily keeps it in a cycle) may be collected on a thread of its own
    PostgreSQL pool, whose close then fails joining that very thread."""
    applications: list[Application[UUID]] = []

    def open_(app: App) -> App:
        applications.append(app)
        return app

    yield open_
    for app in applications:
        app.close()


class Tally(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def count_one(self) -> None:
        self.count += 1


class Tallies(Application[UUID]):
    def start(self, counts: int) -> UUID:
        tally = Tally()
        for _ in range(counts):
            tally.count_one()
        self.save(tally)
        return tally.id

    def count(self, tally_id: UUID) -> int:
        tally: Tally = self.repository.get(tally_id)
        return tally.count


class ServiceTallies(Tallies, ServiceApplication):
    """The same application with what every service's shares (the same tables too)."""

    name = "Tallies"


def test_events_survive_a_new_application_instance(store: Store, opened: Opener) -> None:
    tally_id = opened(Tallies(env=store.env)).start(counts=3)

    reopened = opened(Tallies(env=store.env))

    assert reopened.count(tally_id) == 3
    assert len(reopened.notification_log.select(start=1, limit=10)) == 4


def test_aggregates_read_together_are_those_read_one_by_one(store: Store, opened: Opener) -> None:
    # Given tallies with histories of different lengths
    app = opened(Tallies(env=store.env))
    ids = [app.start(counts=n) for n in (0, 3, 1)]
    asked = [ids[2], ids[0], ids[1]]

    # When they are read together
    together = load_all(app, asked)

    # Then each is what the repository reads alone, in the order asked
    assert together == [app.repository.get(tally_id) for tally_id in asked]
    assert [tally.count for tally in together] == [1, 0, 3]


def test_a_service_application_reads_what_the_library_reads(store: Store, opened: Opener) -> None:
    # Given tallies saved through the library's own application
    plain = opened(Tallies(env=store.env))
    ids = [plain.start(counts=n) for n in (0, 4)]

    # When a service's application reads them
    service = opened(ServiceTallies(env=store.env))

    # Then each is what the library reads, whole or at an earlier version
    assert [service.repository.get(id_) for id_ in ids] == [
        plain.repository.get(id_) for id_ in ids
    ]
    assert service.repository.get(ids[1], version=3).count == 2
    with pytest.raises(AggregateNotFoundError):
        service.repository.get(uuid4())


def test_a_database_refusing_connections_fails_a_read_at_once_as_transient(
    fresh_database_url: str, database_server: str, opened: Opener
) -> None:
    # Given a service's application holding a tally on PostgreSQL
    store = store_for("tallies", Settings(database_url=fresh_database_url))
    app = opened(ServiceTallies(env=store.env))
    tally_id = app.start(counts=2)

    # when its database refuses connections and drops its sessions (a restart, a failover)
    name = str(psycopg.conninfo.conninfo_to_dict(fresh_database_url)["dbname"])
    outcome: list[BaseException | int] = []
    with refusing_connections(database_server, name):
        reading = threading.Thread(target=lambda: outcome.append(_count_or_error(app, tally_id)))
        reading.start()
        reading.join(120)  # the library's own retries took 10 x 30 s
        still_waiting = reading.is_alive()

    # then the read failed as a transient failure, not after minutes of retries
    assert not still_waiting, "the read still waited for a connection"
    assert isinstance(outcome[0], StoreUnavailable)
    assert is_transient(outcome[0])
    # and once the database takes connections again, so does the application
    assert _eventually(lambda: app.count(tally_id)) == 2


def test_an_application_closed_on_a_thread_of_its_own_pool_closes(fresh_database_url: str) -> None:
    # Given an application on PostgreSQL, as the garbage collector may find it in a cycle
    app = ServiceTallies(env=store_for("tallies", Settings(database_url=fresh_database_url)).env)
    pool = app.factory.datastore.pool  # type: ignore[attr-defined]
    closing = CloseOnPoolThread(pool, app)

    # when it is closed on one of its pool's own threads, as a collection there closes it
    pool.run_task(closing)

    # then it closed without error, and its pool with it
    assert closing.done.wait(10), "the close never ran"
    assert closing.failures == []
    assert _eventually_true(lambda: pool.closed)


class CloseOnPoolThread(MaintenanceTask):
    def __init__(self, pool: ConnectionPool[Any], app: Application[UUID]) -> None:
        super().__init__(pool)
        self.app, self.done, self.failures = app, threading.Event(), list[BaseException]()

    def _run(self, pool: ConnectionPool[Any]) -> None:
        try:
            self.app.close()
        except BaseException as failure:
            self.failures.append(failure)
        finally:
            self.done.set()


def _eventually_true(check: Callable[[], bool], patience: float = 10.0) -> bool:
    deadline = time.monotonic() + patience
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


@contextlib.contextmanager
def refusing_connections(server: str, database: str) -> Iterator[None]:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(database))
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database]
        )
        try:
            yield
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(database))
            )


def _count_or_error(app: ServiceTallies, tally_id: UUID) -> BaseException | int:
    try:
        return app.count(tally_id)
    except Exception as error:
        return error


def _eventually(read: Callable[[], int], patience: float = 60.0) -> int:
    deadline = time.monotonic() + patience
    while True:
        try:
            return read()
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the application did not reconnect"
            time.sleep(0.5)


def test_reading_together_an_aggregate_never_stored_fails_as_alone(
    store: Store, opened: Opener
) -> None:
    app = opened(Tallies(env=store.env))
    stored = app.start(counts=1)

    with pytest.raises(AggregateNotFoundError):
        load_all(app, [stored, uuid4()])


def test_the_relays_read_is_the_librarys_read(store: Store, opened: Opener) -> None:
    app = opened(Tallies(env=store.env))
    for counts in (2, 0, 5):
        app.start(counts)
    general = app.recorder.select_notifications(start=1, limit=100, stop=10**9)

    relays = app.recorder.select_notifications(start=3, limit=5)

    assert len(general) == 10
    assert relays == general[2:7]
    assert all(isinstance(notification.state, bytes) for notification in relays)


def test_the_store_is_where_the_settings_say(
    store: Store, store_settings: Settings, opened: Opener
) -> None:
    opened(Tallies(env=store.env)).start(counts=1)

    if store.kind == "sqlite":
        assert (store_settings.data_dir / f"{store.service}.sqlite3").stat().st_size > 0
    else:
        assert store_settings.database_url is not None
        assert _tables_in_schema(store_settings.database_url, store.service)


def test_two_services_never_share_a_store(
    store_settings: Settings, unique: Callable[[str], str], opened: Opener
) -> None:
    intake = store_for(unique("intake"), store_settings)
    billing = store_for(unique("billing"), store_settings)

    tally_id = opened(Tallies(env=intake.env)).start(counts=2)

    assert opened(Tallies(env=intake.env)).count(tally_id) == 2
    assert opened(Tallies(env=billing.env)).notification_log.select(start=1, limit=10) == []


def _tables_in_schema(database_url: str, schema: str) -> list[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
    return [row[0] for row in rows]


def test_a_store_file_held_by_another_instance_is_waited_for(tmp_path: Path) -> None:
    # given a new store file that another instance holds locked, before its switch to WAL
    # (sqlite refuses that switch at once, whatever the busy timeout)
    path = tmp_path / "racing.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()

    # when this instance opens the store
    store = store_for("racing", Settings(data_dir=tmp_path, database_url=None))

    # then it waited for the lock and the file is in WAL mode
    with contextlib.closing(sqlite3.connect(store.location)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()


def test_instances_starting_at_once_create_the_snapshot_table_once(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given a store no instance has opened yet
    store = store_for(unique("billing"), store_settings)
    factory = lambda: InfrastructureFactory.construct(Environment("Tallies", store.env))  # noqa: E731

    # when eight instances create the snapshot table at the same moment
    failures = failures_at_once(lambda: factory().aggregate_recorder("snapshots"))

    # then none of them failed (a racing CREATE is answered with a unique violation)
    assert failures == []
