"""Event-store recorders that also keep the inbox and the relay's position, in the same database
as the events (the `eventsourcing` library's recorders, extended through its own hooks).

Inbox: one row per applied integration event, keyed by (source service, source position), written
in the transaction that writes the event's effects. One row per event, not a high-water mark:
positions of one source arrive in order only within a partition, and a relay that retries can
interleave them, so "lower than the last seen" does not mean "seen".

Index: one row per aggregate a service wants to list (an order by channel and status), written in
the transaction that writes the aggregate's events, so a listing never disagrees with the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Identifier

from orderflow.runtime.datastore import BriefWaitDatastore
from orderflow.runtime.writes import Writes

InboxKey = tuple[str, int]


@dataclass(frozen=True)
class IndexRow:
    """An aggregate's place in a listing: its owner (scope), a tag to filter by, and a time in
    microseconds that orders the listing (its creation, an expiry, its last step: the
    application's choice, rewritten with every save)."""

    aggregate_id: UUID
    scope: str
    tag: str
    created: int


#: A listing position: (created, aggregate id) of the last row a page returned.
IndexCursor = tuple[int, str]
_SQLITE_CHUNK = 400  # pairs per query, well below SQLite's host-parameter limit


class _AnnouncesWrites:
    """Tells the process's threads of each committed write (see `writes`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes = Writes()

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids: Sequence[int] | None = super().insert_events(  # type: ignore[misc]
            stored_events, **kwargs
        )
        self.writes.announce(max(notification_ids or [0]))  # committed: the relay can read them
        return notification_ids


def _last_row_each(rows: Sequence[IndexRow]) -> list[IndexRow]:
    """One row per aggregate, the last given: a statement's upsert may touch a row only once.
    In the order of their ids: two writers upserting the same rows (intake's API and its
    consumer) then lock them in one order, and cannot deadlock over them."""
    last = {row.aggregate_id: row for row in rows}
    return [last[aggregate_id] for aggregate_id in sorted(last, key=str)]


#: A page of one tag's aggregates (fulfillment's shipments due for their next step, a listing
#: by status) reads that tag's rows only. Through the listing index alone it read every row of
#: the scope, the finished ones too, so each look cost more the longer the service ran.
_BY_TAG = (
    "CREATE INDEX IF NOT EXISTS orderflow_index_by_tag "
    "ON {}orderflow_index (scope, tag, created, aggregate_id)"
)


class SQLiteInboxRecorder(_AnnouncesWrites, SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS orderflow_inbox (source TEXT NOT NULL, "
            "position INTEGER NOT NULL, PRIMARY KEY (source, position)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS orderflow_relay (name TEXT PRIMARY KEY, "
            "position INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS orderflow_index (aggregate_id TEXT PRIMARY KEY, "
            "scope TEXT NOT NULL, tag TEXT NOT NULL, created INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS orderflow_index_listing "
            "ON orderflow_index (scope, created DESC, aggregate_id DESC)",
            _BY_TAG.format(""),
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        inbox: list[InboxKey] = kwargs.get("inbox") or []
        if inbox:
            c.executemany("INSERT INTO orderflow_inbox (source, position) VALUES (?, ?)", inbox)
        index: list[IndexRow] = kwargs.get("index") or []
        if index:
            c.executemany(
                "INSERT INTO orderflow_index (aggregate_id, scope, tag, created) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id) "
                "DO UPDATE SET tag = excluded.tag, created = excluded.created",
                [(str(row.aggregate_id), row.scope, row.tag, row.created) for row in index],
            )
        return super()._insert_events(c, stored_events, **kwargs)

    def select_index(
        self,
        scope: str,
        tag: str | None,
        after: IndexCursor | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[IndexCursor]:
        """A page of (created, aggregate id), newest first (or oldest), after the cursor."""
        query, params = _index_page("orderflow_index", scope, tag, after, limit, oldest_first)
        with self.datastore.transaction(commit=False) as c:
            c.execute(query, params)
            return [(int(row[0]), str(row[1])) for row in c.fetchall()]

    def processed(self, keys: Iterable[InboxKey]) -> set[InboxKey]:
        wanted, found = list(keys), set()
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), _SQLITE_CHUNK):
                chunk = wanted[start : start + _SQLITE_CHUNK]
                values = ",".join("(?, ?)" for _ in chunk)
                c.execute(
                    f"WITH k(source, position) AS (VALUES {values}) "  # noqa: S608 - only placeholders
                    "SELECT source, position FROM orderflow_inbox JOIN k USING (source, position)",
                    [part for key in chunk for part in key],
                )
                found |= {(row[0], row[1]) for row in c.fetchall()}
        return found

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each stored aggregate's last version (absent: none stored)."""
        found: dict[UUID, int] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(aggregate_ids), _SQLITE_CHUNK):
                chunk = [id_.hex for id_ in aggregate_ids[start : start + _SQLITE_CHUNK]]
                c.execute(
                    f"SELECT originator_id, max(originator_version) FROM {self.events_table_name} "  # noqa: S608 - the table's name and placeholders
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                    chunk,
                )
                found |= {UUID(row[0]): int(row[1]) for row in c.fetchall()}
        return found

    def select_events_of(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every stored event of each aggregate, oldest first, in one read (absent: none)."""
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(aggregate_ids), _SQLITE_CHUNK):
                chunk = [id_.hex for id_ in aggregate_ids[start : start + _SQLITE_CHUNK]]
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "  # noqa: S608 - the table's name and placeholders
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                for row in c.fetchall():
                    aggregate_id = UUID(row[0])
                    found.setdefault(aggregate_id, []).append(
                        StoredEvent(aggregate_id, row[1], row[2], row[3])
                    )
        return found

    def relay_position(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position FROM orderflow_relay WHERE name = ?", [name])
            row = c.fetchone()
        return int(row[0]) if row else 0

    def save_relay_position(self, name: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO orderflow_relay (name, position) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET position = max(position, excluded.position)",
                [name, position],
            )

    def rewind_relay_position(self, name: str) -> None:
        """Back to the start, the one move a position makes backwards (see `Relay._start`)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("UPDATE orderflow_relay SET position = 0 WHERE name = ?", [name])


class PostgresInboxRecorder(_AnnouncesWrites, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.orderflow_inbox (source text NOT NULL, "
                "position bigint NOT NULL, PRIMARY KEY (source, position))"
            ).format(schema),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.orderflow_relay (name text PRIMARY KEY, "
                "position bigint NOT NULL)"
            ).format(schema),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.orderflow_index (aggregate_id text PRIMARY KEY, "
                "scope text NOT NULL, tag text NOT NULL, created bigint NOT NULL)"
            ).format(schema),
            SQL(
                "CREATE INDEX IF NOT EXISTS orderflow_index_listing "
                "ON {0}.orderflow_index (scope, created DESC, aggregate_id DESC)"
            ).format(schema),
            SQL(_BY_TAG.format("{0}.")).format(schema),
        ]
        self._schema = schema
        self._schema_ident = '"' + datastore.schema.replace('"', '""') + '"'
        # Whole batches in one statement each, as arrays of plain types sent in binary (`%b`):
        # psycopg dumps those element by element in C, where an array in text format is quoted
        # and escaped in Python (10 us per row of events, against 0.8) and the library's array
        # of composite values is dumped value by value in Python.
        self._insert_inbox = SQL(
            "INSERT INTO {0}.orderflow_inbox (source, position) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[])"
        ).format(schema)
        self._insert_stored = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema, Identifier(self.events_table_name), SQL(datastore.originator_id_type))
        self._select_processed = SQL(
            "SELECT source, position FROM {0}.orderflow_inbox "
            "JOIN unnest(%b::text[], %b::bigint[]) AS k(source, position) USING (source, position)"
        ).format(schema)
        # one statement for the batch's rows, not one each: at saturation the row-by-row upsert
        # was the statement PostgreSQL ran most, 9 per order across the services
        self._upsert_index = SQL(
            "INSERT INTO {0}.orderflow_index (aggregate_id, scope, tag, created) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[]) "
            "ON CONFLICT (aggregate_id) "
            "DO UPDATE SET tag = excluded.tag, created = excluded.created"
        ).format(schema)
        self._select_versions = SQL(
            "SELECT originator_id, max(originator_version) AS version FROM {0}.{1} "
            "WHERE originator_id = ANY(%b::{2}[]) GROUP BY originator_id"
        ).format(schema, Identifier(self.events_table_name), SQL(datastore.originator_id_type))
        self._select_events_of = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s::{2}[]) ORDER BY originator_id, originator_version"
        ).format(schema, Identifier(self.events_table_name), SQL(datastore.originator_id_type))
        self._select_after = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {0}.{1} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
        ).format(schema, Identifier(self.events_table_name))
        self._select_relay = SQL("SELECT position FROM {0}.orderflow_relay WHERE name = %s").format(
            schema
        )
        self._upsert_relay = SQL(
            "INSERT INTO {0}.orderflow_relay AS r (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = GREATEST(r.position, excluded.position)"
        ).format(schema)
        self._rewind_relay = SQL(
            "UPDATE {0}.orderflow_relay SET position = 0 WHERE name = %s"
        ).format(schema)
        render_once(self, *_OURS, *_THE_LIBRARYS)

    def create_table(self) -> None:
        with one_creator(self.datastore):
            super().create_table()

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        inbox: list[InboxKey] = kwargs.get("inbox") or []
        if inbox:
            curs.execute(self._insert_inbox, [[k[0] for k in inbox], [k[1] for k in inbox]])
        index = _last_row_each(kwargs.get("index") or [])
        if index:
            curs.execute(
                self._upsert_index,
                [
                    [str(row.aggregate_id) for row in index],
                    [row.scope for row in index],
                    [row.tag for row in index],
                    [row.created for row in index],
                ],
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def select_index(
        self,
        scope: str,
        tag: str | None,
        after: IndexCursor | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[IndexCursor]:
        """A page of (created, aggregate id), newest first (or oldest), after the cursor."""
        table = f"{self._schema_ident}.orderflow_index"
        text, params = _index_page(table, scope, tag, after, limit, oldest_first)
        query = SQL(text.replace("?", "%s"))  # fixed fragments; values are parameters
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params)
            return [(int(row["created"]), str(row["aggregate_id"])) for row in curs.fetchall()]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)  # as the library does: commit order equals notification order
        # No NOTIFY, unlike the library: nothing LISTENs (the relay hears of writes in process,
        # see `writes`), and a NOTIFY makes every committing transaction that sent one wait
        # on a lock shared by the whole server.
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self._insert_stored, columns)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The relay's read (from `start`, at most `limit`) as plain tuples in binary: the
        library's dict rows and text bytea cost 3.1 us a row, these 1.8 (5,000-row batches)."""
        if start is None or stop is not None or topics or not inclusive_of_start:
            general: Sequence[Notification] = super().select_notifications(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )
            return general
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._select_after, [start, limit], prepare=True)
            return [
                Notification(
                    id=id_,
                    originator_id=aggregate,
                    originator_version=version,
                    topic=topic,
                    state=state,
                )
                for id_, aggregate, version, topic, state in curs.fetchall()
            ]

    def processed(self, keys: Iterable[InboxKey]) -> set[InboxKey]:
        wanted = list(keys)
        if not wanted:
            return set()
        sources, positions = [k[0] for k in wanted], [k[1] for k in wanted]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_processed, [sources, positions])
            return {(row["source"], row["position"]) for row in curs.fetchall()}

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each stored aggregate's last version (absent: none stored)."""
        ids = [str(id_) for id_ in aggregate_ids]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_versions, [ids])
            return {UUID(str(row["originator_id"])): int(row["version"]) for row in curs.fetchall()}

    def select_events_of(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every stored event of each aggregate, oldest first, in one query (absent: none)."""
        found: dict[UUID, list[StoredEvent]] = {}
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._select_events_of, [[str(id_) for id_ in aggregate_ids]])
            for originator_id, version, topic, state in curs.fetchall():
                aggregate_id = UUID(str(originator_id))
                found.setdefault(aggregate_id, []).append(
                    StoredEvent(aggregate_id, version, topic, bytes(state))
                )
        return found

    def relay_position(self, name: str) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_relay, [name])
            row = curs.fetchone()
        return int(row["position"]) if row else 0

    def save_relay_position(self, name: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._upsert_relay, [name, position])

    def rewind_relay_position(self, name: str) -> None:
        """Back to the start, the one move a position makes backwards (see `Relay._start`)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._rewind_relay, [name])


InboxRecorder = SQLiteInboxRecorder | PostgresInboxRecorder


@contextmanager
def one_creator(datastore: PostgresDatastore) -> Iterator[None]:
    """Create a schema's tables once, however many instances start at the same moment:
    PostgreSQL answers racing `CREATE ... IF NOT EXISTS` with a unique violation."""
    name = f"orderflow-create:{datastore.schema}"
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])


class PostgresSnapshotRecorder(PostgresAggregateRecorder):
    """The snapshot table's recorder, created under the same lock as the events' tables."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        render_once(self, *_THE_LIBRARYS)

    def create_table(self) -> None:
        with one_creator(self.datastore):
            super().create_table()


#: Statements run on every batch, read, relay round or listed page: each a `Composed` of
#: identifiers (and the library's lock timeout, a literal), which psycopg would turn into bytes
#: on each execute (5 us a statement, a Transformer for each literal); rendered once, 0.4.
_OURS = (
    "_insert_inbox",
    "_insert_stored",
    "_select_processed",
    "_upsert_index",
    "_select_versions",
    "_select_events_of",
    "_select_after",
    "_select_relay",
    "_upsert_relay",
    "_rewind_relay",
)
_THE_LIBRARYS = (
    "select_events_statement",
    "insert_events_statement",
    "max_notification_id_statement",
    "lock_table_statements",
)


def render_once(recorder: object, *names: str) -> None:
    """Replace each named statement (or list of them) of `recorder` by its plain text."""
    for name in names:
        value = getattr(recorder, name, None)
        if isinstance(value, list):
            setattr(recorder, name, [_rendered(statement) for statement in value])
        elif value is not None:
            setattr(recorder, name, _rendered(value))


def _rendered(statement: Composable) -> SQL:
    return SQL(statement.as_string(None))


class PostgresStoreFactory(PostgresFactory):
    """The library's PostgreSQL persistence with our recorders (`PERSISTENCE_MODULE`), and a
    datastore that does not wait minutes for a connection (see `datastore`)."""

    aggregate_recorder_class = PostgresSnapshotRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # the library builds its datastore itself, from the environment; ours differs only
        # in how `get_connection` fails, so it takes the same instance over
        self.datastore.__class__ = BriefWaitDatastore


def _index_page(
    table: str,
    scope: str,
    tag: str | None,
    after: IndexCursor | None,
    limit: int,
    oldest_first: bool,
) -> tuple[str, list[Any]]:
    """The query of one page of the index (`?` placeholders) and its parameters."""
    where, params = ["scope = ?"], list[Any]([scope])
    if tag is not None:
        where.append("tag = ?")
        params.append(tag)
    if after is not None:
        where.append(f"(created, aggregate_id) {'>' if oldest_first else '<'} (?, ?)")
        params.extend(after)
    order = "ASC" if oldest_first else "DESC"
    query = (
        f"SELECT created, aggregate_id FROM {table} WHERE {' AND '.join(where)} "  # noqa: S608 - fixed fragments, values are parameters
        f"ORDER BY created {order}, aggregate_id {order} LIMIT ?"
    )
    return query, [*params, limit]
