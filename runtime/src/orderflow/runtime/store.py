"""Pick a service's event store: a SQLite file of its own, or a PostgreSQL schema of its own.

The result is the environment the `eventsourcing` library reads (`Application(env=store.env)`),
so services never see which database they run on.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from orderflow.runtime.datastore import POOL_WAIT_S
from orderflow.runtime.settings import Settings

StoreKind = Literal["sqlite", "postgres"]
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class Store:
    service: str
    kind: StoreKind
    location: str = field(compare=False)  # for people: a file path, or database/schema
    env: dict[str, str] = field(repr=False)


def store_for(service: str, settings: Settings) -> Store:
    """The store of `service`; on PostgreSQL its schema is created on first use."""
    if not _SERVICE_NAME.match(service):
        raise ValueError(f"service name {service!r} must be lower-case letters, digits or _")
    if settings.database_url:
        return _postgres_store(service, settings.database_url)
    return _sqlite_store(service, settings)


def _sqlite_store(service: str, settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = (settings.data_dir / f"{service}.sqlite3").resolve()
    _ensure_sqlite_file(path)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "orderflow.runtime.recorders:SQLiteInboxRecorder",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    return Store(service, "sqlite", str(path), env)


def _postgres_store(service: str, database_url: str) -> Store:
    ensure_schema(database_url, service)
    parts = conninfo_to_dict(database_url)
    env = {
        "PERSISTENCE_MODULE": "orderflow.runtime.recorders:PostgresStoreFactory",
        "APPLICATION_RECORDER_TOPIC": "orderflow.runtime.recorders:PostgresInboxRecorder",
        "POSTGRES_DBNAME": str(parts.get("dbname") or parts.get("user") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": service,
        "POSTGRES_CONNECT_TIMEOUT": str(POOL_WAIT_S),
    }
    location = (
        f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']} schema {service}"
    )
    return Store(service, "postgres", location, env)


def _ensure_sqlite_file(path: Path) -> None:
    # WAL lets the relay read the log while the consumer writes; setting it creates the file.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        write_ahead_log(connection)


def write_ahead_log(connection: sqlite3.Connection, within_s: float = 10.0) -> None:
    """Switch a (maybe new) file to WAL. The switch fails at once, busy timeout or not, while
    another process or thread opening the same new file holds it (two instances of a service
    starting together): try again for a while."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


#: The start of the application name of every connection an orderflow service opens.
APPLICATION_PREFIX = "orderflow-"


def drop_connections(database_url: str) -> int:
    """End every connection orderflow's services hold to the database, as a PostgreSQL
    restart or a failover would (the chaos suite's other fault); how many there were."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s"
            " AND pid <> pg_backend_pid()",
            [f"{APPLICATION_PREFIX}%"],
        ).fetchone()
    return int(row[0]) if row else 0


def ensure_schema(database_url: str, schema: str) -> None:
    """Create the schema once, however many instances start at the same moment: PostgreSQL
    answers racing `CREATE SCHEMA IF NOT EXISTS` with a unique violation."""
    with (
        psycopg.connect(database_url, autocommit=True, connect_timeout=10) as connection,
        connection.transaction(),
    ):
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"schema:{schema}"])
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
