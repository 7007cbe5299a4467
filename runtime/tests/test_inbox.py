"""The inbox applies each integration event exactly once, whatever order and however often it
arrives, and never saves part of an event that failed."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from feed import stock_received
from ledger_service import Ledger, Ledgers, finds, ledger_id, on_stock_received

from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.inbox import apply_batch, look_ahead
from orderflow.runtime.recorders import InboxRecorder, IndexRow
from orderflow.runtime.store import Store
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration

HANDLERS = {StockReceived: on_stock_received}


def all_references(app: Ledgers) -> list[str]:
    return sorted(ref for refs in app.references().values() for ref in refs)


def test_a_batch_is_applied_and_its_redelivery_skipped(store: Store) -> None:
    app = Ledgers(env=store.env)
    batch = [stock_received(n) for n in range(1, 101)]

    first = apply_batch(app, HANDLERS, batch)
    again = apply_batch(Ledgers(env=store.env), HANDLERS, batch)

    assert (first.applied, len(first.skipped)) == (100, 0)
    assert (again.applied, len(again.skipped)) == (0, 100)
    assert all_references(app) == sorted(f"in-{n}" for n in range(1, 101))


def test_interleaved_arrival_across_partitions_loses_nothing(store: Store) -> None:
    # Given one source's events split over two partitions, consumed in alternating batches so
    # that positions arrive out of order, with duplicates from a relay that retried.
    app = Ledgers(env=store.env)
    partition_a = [stock_received(n) for n in range(1, 201) if n % 2]
    partition_b = [stock_received(n) for n in range(1, 201) if not n % 2]
    chunks = [partition_b[100:], partition_a[:50], partition_b[:100], partition_a[50:]]
    chunks.append(random.Random(7).sample(partition_a + partition_b, 60))  # redelivered

    for chunk in chunks:
        apply_batch(app, HANDLERS, chunk)

    assert all_references(app) == sorted(f"in-{n}" for n in range(1, 201))


def test_a_duplicate_inside_one_batch_is_applied_once(store: Store) -> None:
    app = Ledgers(env=store.env)
    event = stock_received(7)

    outcome = apply_batch(app, HANDLERS, [event, event, event])

    assert (outcome.applied, outcome.skipped) == (1, [1, 2])
    assert all_references(app) == ["in-7"]


def test_a_failing_event_leaves_no_partial_effect(store: Store) -> None:
    app = Ledgers(env=store.env)

    def fussy(received: StockReceived, uow: UnitOfWork) -> None:
        on_stock_received(received, uow)  # changes the ledger, then refuses
        if received.source_position == 3:
            raise ValueError("refused")

    outcome = apply_batch(app, {StockReceived: fussy}, [stock_received(n) for n in range(1, 6)])

    assert [failure.index for failure in outcome.failed] == [2]
    assert all_references(app) == ["in-1", "in-2", "in-4", "in-5"]
    assert apply_batch(app, HANDLERS, [stock_received(3)]).applied == 1, "not marked as done"


def test_effects_and_inbox_rows_commit_together(store: Store) -> None:
    # Given another writer that opened the same ledger first, the batch's commit conflicts:
    app = Ledgers(env=store.env)
    stale = Ledger("SKU-001")
    app.save(Ledger("SKU-001"))

    def opens_again(received: StockReceived, uow: UnitOfWork) -> None:
        uow.add(stale)

    with pytest.raises(IntegrityError):
        apply_batch(app, {StockReceived: opens_again}, [stock_received(1)])

    # then neither the effect nor the inbox row was written, so a retry applies it.
    assert apply_batch(app, HANDLERS, [stock_received(1)]).applied == 1
    assert app.repository.get(ledger_id("SKU-001")).references == ["in-1"]


def test_a_batch_learns_in_one_query_which_aggregates_are_new_and_reads_the_others(
    store: Store,
) -> None:
    # Given a stored ledger, a cached one and one never opened, in a store without snapshots
    app = Ledgers(env=store.env)
    assert app.snapshots is None
    apply_batch(app, HANDLERS, [stock_received(1, skus=1)])  # SKU-000
    cache = AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(3, skus=2)], cache)  # SKU-001, now cached
    batch = [stock_received(n, skus=3) for n in (9, 10, 11)]  # SKU-000, SKU-001, SKU-002

    # when the batch looks ahead at what its handlers will look for
    with count_reads(app) as reads:
        absent = look_ahead(app, finds, batch, cache)

    # then only the one never opened is known to be absent (the cached one is not asked for),
    # and the stored one was read whole into the cache by the same single query
    assert absent == {ledger_id("SKU-002")}
    assert reads == [[ledger_id("SKU-000"), ledger_id("SKU-002")]]
    assert cache.get(ledger_id("SKU-000")).references == ["in-1"]


def test_a_batch_re_run_reads_its_aggregates_together_again(store: Store) -> None:
    # Given three ledgers in the consumer's cache, one of which another writer then moves on
    app = Ledgers(env=store.env)
    cache = AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(n, skus=3) for n in (1, 2, 3)], cache, finds)
    other = Ledgers(env=store.env)
    moved: Ledger = other.repository.get(ledger_id("SKU-001"))
    moved.receive("SKU-001", "elsewhere", 1, moved.id)
    other.save(moved)
    batch = [stock_received(n, skus=3) for n in (4, 5, 6)]  # SKU-001, SKU-002, SKU-000

    # when a batch finds the stale one at its commit, and is run again,
    with count_reads(app) as reads:
        outcome = apply_batch(app, HANDLERS, batch, cache, finds)

    # then the re-run read the three dropped from the cache in one query, not one each,
    # and applied the batch on top of the other writer's change.
    assert outcome.applied == 3
    assert reads == [[ledger_id(f"SKU-{n:03d}") for n in (1, 2, 0)]]
    assert app.repository.get(ledger_id("SKU-001")).references == ["in-1", "elsewhere", "in-4"]


@contextmanager
def count_reads(app: Ledgers) -> Iterator[list[list[UUID]]]:
    """The aggregates each `select_events_of` of the store was asked for, while in the block."""
    recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
    reads: list[list[UUID]] = []
    original = recorder.select_events_of

    def counted(aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        reads.append(list(aggregate_ids))
        return original(aggregate_ids)

    recorder.select_events_of = counted  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        del recorder.select_events_of


def test_an_aggregate_found_absent_but_created_meanwhile_is_never_doubled(store: Store) -> None:
    # Given a batch that found SKU-001's ledger absent, and another writer that opens it before
    # the batch commits,
    app = Ledgers(env=store.env)
    other = Ledgers(env=store.env)

    def raced(received: StockReceived, uow: UnitOfWork) -> None:
        other.save(Ledger(received.sku))
        on_stock_received(received, uow)

    # when the batch commits, the store refuses its second opening of the ledger,
    with pytest.raises(IntegrityError):
        apply_batch(app, {StockReceived: raced}, [stock_received(1)], finds=finds)

    # and its retry finds the ledger and adds to it: one ledger, one entry.
    assert apply_batch(app, HANDLERS, [stock_received(1)], finds=finds).applied == 1
    assert all_references(app) == ["in-1"]


class ListedLedgers(Ledgers):
    """Ledgers listed by how many entries each holds."""

    def index_row(self, ledger: Ledger) -> IndexRow:
        return IndexRow(ledger.id, "ledgers", str(len(ledger.references)), 0)


def test_a_batch_writes_no_listing_row_for_an_aggregate_it_only_read(store: Store) -> None:
    # Given a ledger with one entry, listed as such,
    app, other = ListedLedgers(env=store.env), ListedLedgers(env=store.env)
    apply_batch(app, HANDLERS, [stock_received(1)])
    opened = ledger_id(stock_received(1).sku)

    def reads_then_races(received: StockReceived, uow: UnitOfWork) -> None:
        uow.get(opened)  # a look only, as a handler deciding something
        ledger = other.repository.get(opened)  # while another writer adds a second entry
        ledger.receive(ledger.sku, "in-other", 1, received.correlation_id)
        other.save(ledger, index=[other.index_row(ledger)])
        on_stock_received(received, uow)

    # when a batch that read it (and wrote another ledger) commits after the other writer,
    apply_batch(app, {StockReceived: reads_then_races}, [stock_received(2)])

    # then the listing still says two entries, not the one the batch had read.
    recorder: InboxRecorder = app.recorder  # type: ignore[assignment]
    with_two = [row[1] for row in recorder.select_index("ledgers", "2", None, 100)]
    with_one = [row[1] for row in recorder.select_index("ledgers", "1", None, 100)]
    assert str(opened) in with_two
    assert str(opened) not in with_one
