"""What every read model shares: its table set (one generation, see generations), and applying
each event exactly once. An event's (source, position) goes into the model's own inbox table in
the batch's transaction; a redelivered event finds it there and is skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from orderflow.projections.database import Cursor, ReadDatabase
from orderflow.projections.generations import tables_of
from orderflow.runtime.inbox import Applied
from orderflow.schemas.envelope import IntegrationEvent, Message

#: Keys per statement that lists them, well below SQLite's limit on parameters.
KEYS_PER_STATEMENT = 400


class ReadModel:
    name: ClassVar[str]  # the projection's name: `orderflow replay <name>`
    statements: ClassVar[Sequence[str]]  # CREATE ... IF NOT EXISTS, with {s} and {g}
    table_names: ClassVar[Sequence[str]]  # every table the statements create, for dropping

    def __init__(self, database: ReadDatabase, generation: int = 1) -> None:
        self.db, self.generation = database, generation
        self.tables = tables_of(generation)
        self.db.create([self._inbox_table(), *self.statements], self.tables)

    @classmethod
    def all_tables(cls) -> list[str]:
        return [f"{cls.name}_inbox", *cls.table_names]

    def apply(self, events: Sequence[Message]) -> Applied:
        outcome = Applied()
        with self.db.transaction(self.tables) as cursor:
            self._one_writer(cursor)
            new = self._unseen(cursor, events, outcome)
            if new:
                self.write(cursor, new)
                cursor.insert(
                    f"INSERT INTO {{s}}{self.name}_inbox (source, position)",
                    ("text", "bigint"),
                    [(e.source, e.source_position) for e in new],
                )
        outcome.applied = len(new)
        return outcome

    def _one_writer(self, cursor: Cursor) -> None:
        """Wait for any other process's batch on this table set to commit, then read: two
        writers at once (a second replica, a pod being replaced) would each derive an order from
        half its facts, number feed rows out of commit order, or both apply one event. SQLite's
        BEGIN IMMEDIATE already waits so; on PostgreSQL a lock held until commit does."""
        if cursor.postgres:
            key = f"write:{self.db.name}.{self.tables}{self.name}"
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])

    def write(self, cursor: Cursor, events: list[IntegrationEvent]) -> None:
        """Record the batch's new events (each seen for the first time)."""
        raise NotImplementedError

    def derive_missing(self) -> None:
        """Derive what an older version of the model did not keep, from what it did; the
        worker calls it before it follows the topics (readers never do: it may take a while).
        Nothing by default."""

    def _inbox_table(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {{s}}{self.name}_inbox (source TEXT NOT NULL,"
            " position BIGINT NOT NULL, PRIMARY KEY (source, position))"
        )

    def _unseen(
        self, cursor: Cursor, events: Sequence[Message], outcome: Applied
    ) -> list[IntegrationEvent]:
        """The batch's events not applied before: one lookup per chunk of the batch, not one per
        event; a second copy within the batch counts as seen too."""
        keyed = [(i, e) for i, e in enumerate(events) if isinstance(e, IntegrationEvent)]
        seen = self._tracked(cursor, [(e.source, e.source_position) for _, e in keyed])
        new = []
        for index, event in keyed:
            key = (event.source, event.source_position)
            if key in seen:
                outcome.skipped.append(index)
                continue
            seen.add(key)
            new.append(event)
        return new

    def _tracked(self, cursor: Cursor, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
        if cursor.postgres and keys:  # the keys as two arrays: one statement for any count
            sources, positions = zip(*keys, strict=True)
            cursor.execute(
                f"SELECT source, position FROM {{s}}{self.name}_inbox WHERE (source, position)"  # noqa: S608 - our name
                " IN (SELECT * FROM unnest(%b::text[], %b::bigint[]))",  # binary: see insert
                [list(sources), list(positions)],
            )
            return {(str(source), int(position)) for source, position in cursor.fetchall()}
        found: set[tuple[str, int]] = set()
        for start in range(0, len(keys), KEYS_PER_STATEMENT):
            chunk = keys[start : start + KEYS_PER_STATEMENT]
            values = ", ".join("(?, ?)" for _ in chunk)
            cursor.execute(
                f"SELECT source, position FROM {{s}}{self.name}_inbox"  # noqa: S608 - placeholders only
                f" WHERE (source, position) IN (VALUES {values})",
                [part for key in chunk for part in key],
            )
            found |= {(str(source), int(position)) for source, position in cursor.fetchall()}
        return found
