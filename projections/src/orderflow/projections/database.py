"""The read models' database: a SQLite file of its own, or a PostgreSQL schema of its own. One
connection, one transaction per batch; SQL is written once with `?` placeholders and `{s}`
for the schema prefix, and adapted to the database in use."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg

from orderflow.runtime.settings import Settings
from orderflow.runtime.store import ensure_schema

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class ReadDatabase:
    def __init__(self, settings: Settings, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"read database name {name!r} must be lower-case letters, digits, _")
        self.name, self.postgres = name, settings.database_url is not None
        self._lock = threading.Lock()  # the worker and the API share the connection
        if settings.database_url is not None:
            ensure_schema(settings.database_url, name)
            self._pg = psycopg.connect(settings.database_url, autocommit=False)
            self.prefix = f'"{name}".'
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path = settings.data_dir / f"{name}.sqlite3"
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA busy_timeout=10000")
            self.prefix = ""

    def sql(self, text: str) -> str:
        text = text.replace("{s}", self.prefix)
        return text.replace("?", "%s") if self.postgres else text

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._lock:
            if self.postgres:
                with self._pg.transaction(), self._pg.cursor() as cursor:
                    yield _Adapted(self, cursor)
            else:
                lite = self._sqlite.cursor()
                lite.execute("BEGIN IMMEDIATE")
                try:
                    yield _Adapted(self, lite)
                    lite.execute("COMMIT")
                except BaseException:
                    lite.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        if self.postgres:
            self._pg.close()
        else:
            self._sqlite.close()


class _Adapted:
    """A cursor that takes the portable SQL."""

    def __init__(self, database: ReadDatabase, cursor: Any) -> None:
        self.database, self.cursor = database, cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(self.database.sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.cursor.executemany(self.database.sql(sql), rows)

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())

    def fetchone(self) -> Any:
        return self.cursor.fetchone()
