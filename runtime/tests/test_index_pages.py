"""A page of one tag's aggregates (fulfillment's shipments due for their next step, orders
listed by status) is found through an index on scope and tag, so its cost does not grow with
the rows of other tags: a service that has delivered a million shipments still finds the three
waiting to be packed without reading the others."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from orderflow.runtime.recorders import InboxRecorder, IndexRow, _index_page
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration

FINISHED, WAITING = 5000, 3


def test_a_page_of_one_tag_is_read_through_the_tag_index(store: Store) -> None:
    # Given many shipments long delivered and a few waiting to be packed,
    app = Application[UUID](env=store.env)  # held: its store closes with it
    recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
    delivered = [(str(uuid4()), "shipments", "delivered", n) for n in range(FINISHED)]
    packed = [(str(uuid4()), "shipments", "packed", FINISHED + n) for n in range(WAITING)]
    _index(recorder, store, delivered + packed)

    # when the oldest waiting ones are asked for, as the warehouse asks every round,
    page = recorder.select_index("shipments", "packed", None, 200, oldest_first=True)
    plan = _plan(recorder, store, "packed")

    # then those are the answer, and the database found them through the tag index.
    assert [aggregate_id for _, aggregate_id in page] == [row[0] for row in packed]
    assert "orderflow_index_by_tag" in plan, plan


def _index(recorder: InboxRecorder, store: Store, rows: list[tuple[str, str, str, int]]) -> None:
    insert = "INSERT INTO {}orderflow_index (aggregate_id, scope, tag, created) VALUES ({})"
    datastore: Any = recorder.datastore
    if store.kind == "sqlite":
        with datastore.transaction(commit=True) as cursor:
            cursor.executemany(insert.format("", "?, ?, ?, ?"), rows)
        return
    with datastore.transaction(commit=True) as cursor:
        cursor.executemany(insert.format(_schema(recorder), "%s, %s, %s, %s"), rows)
        cursor.execute(f"ANALYZE {_schema(recorder)}orderflow_index")  # as autovacuum would


def _plan(recorder: InboxRecorder, store: Store, tag: str) -> str:
    datastore: Any = recorder.datastore
    if store.kind == "sqlite":
        query, params = _index_page("orderflow_index", "shipments", tag, None, 200, True)
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {query}", params)
            return " ".join(str(row[-1]) for row in cursor.fetchall())
    table = f"{_schema(recorder)}orderflow_index"
    query, params = _index_page(table, "shipments", tag, None, 200, True)
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query.replace('?', '%s')}", params)
        return json.dumps(cursor.fetchone())


def _schema(recorder: InboxRecorder) -> str:
    datastore: Any = recorder.datastore
    return f'"{datastore.schema}".'


def test_an_aggregate_saved_twice_in_one_batch_keeps_its_last_row(store: Store) -> None:
    # Given a batch that moves one order on twice (placed, then reserved) and places another,
    app = Application[UUID](env=store.env)
    recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
    moved, other = Aggregate(), Aggregate()
    rows = [
        IndexRow(moved.id, "orders", "placed", 1),
        IndexRow(other.id, "orders", "placed", 2),
        IndexRow(moved.id, "orders", "reserved", 3),
    ]

    # when the batch is stored in one transaction with its index rows,
    app.events.put([*moved.collect_events(), *other.collect_events()], index=rows)

    # then each aggregate has one row, the last the batch gave it.
    assert recorder.select_index("orders", "reserved", None, 10) == [(3, str(moved.id))]
    assert recorder.select_index("orders", "placed", None, 10) == [(2, str(other.id))]
