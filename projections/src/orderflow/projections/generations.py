"""Table sets of a read model. Each rebuild writes a new set (generation N: tables named
`gN_<table>`) while readers keep reading the live one; the swap is one row updated in one
transaction, so readers see either the old set or the new one, never a mix. The set before the
previous one is dropped at the swap; the previous one stays, so a reader that looked up the live
set just before the swap finishes its query."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow.projections.database import Cursor, ReadDatabase

_TABLE = (
    "CREATE TABLE IF NOT EXISTS {s}projection_generations (projection TEXT PRIMARY KEY,"
    " live INTEGER NOT NULL, newest INTEGER NOT NULL)"
)


def tables_of(generation: int) -> str:
    """The prefix of a generation's table names."""
    return f"g{generation}_"


def prepare(database: ReadDatabase) -> None:
    """Create the table of live generations (once per process, before the functions below)."""
    database.create([_TABLE])


def live_generation(database: ReadDatabase, projection: str) -> int:
    """The generation readers should read; 1 until a rebuild has swapped one in."""
    with database.reading() as cursor:
        cursor.execute(
            "SELECT live FROM {s}projection_generations WHERE projection = ?", [projection]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 1


def new_generation(database: ReadDatabase, projection: str) -> int:
    """A generation number never handed out before, for a rebuild to fill."""
    with database.transaction() as cursor:
        newest = _row(cursor, projection)[1] + 1
        cursor.execute(
            "UPDATE {s}projection_generations SET newest = ? WHERE projection = ?",
            [newest, projection],
        )
        return newest


def swap(
    database: ReadDatabase, projection: str, generation: int, table_names: Sequence[str]
) -> None:
    """Make `generation` the live one and drop the sets older than the one it replaces."""
    with database.transaction() as cursor:
        replaced = _row(cursor, projection)[0]
        cursor.execute(
            "UPDATE {s}projection_generations SET live = ? WHERE projection = ?",
            [generation, projection],
        )
    for old in range(1, min(replaced, generation)):
        with database.transaction(tables_of(old)) as cursor:
            for name in table_names:
                cursor.execute(f"DROP TABLE IF EXISTS {{s}}{name}")


def _row(cursor: Cursor, projection: str) -> tuple[int, int]:
    cursor.execute(
        "INSERT INTO {s}projection_generations (projection, live, newest) VALUES (?, 1, 1)"
        " ON CONFLICT (projection) DO NOTHING",
        [projection],
    )
    cursor.execute(
        "SELECT live, newest FROM {s}projection_generations WHERE projection = ?", [projection]
    )
    live, newest = cursor.fetchone()
    return int(live), int(newest)
