"""pytest plugin (entry point `pytest11`): the fixtures every orderflow test tier stands on.

- `kafka_bootstrap`: ORDERFLOW_KAFKA_BOOTSTRAP, else testcontainers' Kafka when Docker answers,
  else an embedded Tansu broker for the session.
- `database_url`: a fresh PostgreSQL database for the session, on ORDERFLOW_DATABASE_URL, else
  testcontainers' PostgreSQL when Docker answers, else 127.0.0.1:5432.
- `store`: parametrised over `sqlite` and `postgres`; every store-dependent test takes it.
- `unique`: unique topic, group and service names per test.

In CI (`CI=true`) a missing broker or database fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orderflow.runtime.broker import EmbeddedBroker, answers
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for

TIERS = {
    "unit": "domain and policies, no I/O",
    "integration": "real broker and real database",
    "e2e": "processes started as a user would start them",
    "chaos": "processes killed at random points",
}
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """A dependency is missing: fatal in CI, a skip on a developer's machine."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test names its tier, so `-m` selections never silently miss one."""
    untiered = [item.nodeid for item in items if not any(item.iter_markers(n) for n in TIERS)]
    if untiered:
        raise pytest.UsageError("tests without a tier marker: " + ", ".join(untiered))


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("ORDERFLOW_KAFKA_BOOTSTRAP")
    if configured:
        if not answers(configured, timeout=10):
            unavailable(f"no Kafka answers at ORDERFLOW_KAFKA_BOOTSTRAP={configured}")
        yield configured
    elif docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        log = tmp_path_factory.mktemp("broker") / "broker.log"
        try:
            broker = EmbeddedBroker(log_path=log).start()
        except Exception as error:
            unavailable(f"embedded broker did not start: {error}")
        with broker:
            yield broker.bootstrap


def _server_url() -> Iterator[str]:
    configured = os.environ.get("ORDERFLOW_DATABASE_URL")
    if configured:
        yield configured
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as postgres:
            yield postgres.get_connection_url()
    else:
        yield LOCAL_POSTGRES


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """The PostgreSQL server the tests use (see `_server_url`)."""
    yield from _server_url()


@pytest.fixture(scope="session")
def database_url(database_server: str) -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    with _own_database(database_server) as url:
        yield url


@pytest.fixture
def fresh_database_url(database_server: str) -> Iterator[str]:
    """A database of its own for one test, dropped after it: for a whole stack, whose schemas
    (`intake`, `projections`, ...) would otherwise meet another stack's."""
    with _own_database(database_server) as url:
        yield url


@contextmanager
def _own_database(server: str) -> Iterator[str]:
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL does not answer at {_redacted(server)}: {error}")
    name = f"orderflow_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_conninfo(_as_url(server, name))
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _as_url(server: str, dbname: str) -> str:
    parts = conninfo_to_dict(server)
    user = parts.get("user") or "postgres"
    password = f":{parts['password']}" if parts.get("password") else ""
    host = parts.get("host") or "127.0.0.1"
    port = parts.get("port") or "5432"
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def _redacted(url: str) -> str:
    parts = conninfo_to_dict(url)
    return f"{parts.get('host', '?')}:{parts.get('port', 5432)}/{parts.get('dbname', '?')}"


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`unique("orders")` gives a name no other test uses: for topics, groups, services. The
    random part comes before the test's name, so a name cut short (`unique("led")[:30]`)
    loses the test's name, never what makes it unique: with the random part last, that cut
    left one hex digit, and two tests of the same first 24 characters shared a store one run
    in 16."""
    stem = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:24]

    def make(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:8]}_{stem}"

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose stores are SQLite files under tmp_path, or the session's database."""
    if request.param == "postgres":
        url = request.getfixturevalue("database_url")
        return Settings(data_dir=tmp_path, database_url=url)
    return Settings(data_dir=tmp_path, database_url=None)


@pytest.fixture
def store(store_settings: Settings, unique: Callable[[str], str]) -> Store:
    """A fresh store for a service of this test, on each store kind."""
    return store_for(unique("svc"), store_settings)


def failures_at_once(action: Callable[[], object], count: int = 8) -> list[BaseException]:
    """Run `action` in `count` threads released at the same moment (a start-up race, say);
    what any of them raised."""
    start, failures = threading.Barrier(count), list[BaseException]()

    def run() -> None:
        start.wait()
        try:
            action()
        except BaseException as failure:
            failures.append(failure)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
