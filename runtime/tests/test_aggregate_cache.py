"""The consumer's aggregate cache saves reads, never correctness: an aggregate another writer
changed meanwhile is reloaded, and a batch that does not commit leaves nothing half changed in
the cache."""

from __future__ import annotations

import pytest
from feed import stock_received
from ledger_service import Ledger, Ledgers, ledger_id, on_stock_received

from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.store import Store
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration

HANDLERS = {StockReceived: on_stock_received}
SKU = "SKU-001"  # stock_received(n) is for SKU-{n % 20}


def references(app: Ledgers) -> list[str]:
    return list(app.repository.get(ledger_id(SKU)).references)


def test_a_second_batch_takes_the_aggregate_from_the_cache(store: Store) -> None:
    # Given a batch that opened the ledger
    app, cache = Ledgers(env=store.env), AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(1)], cache)
    cached = cache.get(ledger_id(SKU))

    # when the next batch of the same ledger is applied
    apply_batch(app, HANDLERS, [stock_received(21)], cache)

    # then it changed the cached object, and the store agrees with it
    assert cache.get(ledger_id(SKU)) is cached
    assert isinstance(cached, Ledger)
    assert cached.references == references(app) == ["in-1", "in-21"]


def test_a_change_by_another_writer_is_not_lost(store: Store) -> None:
    # Given a cached ledger that another process then changes in the store
    app, cache = Ledgers(env=store.env), AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(1)], cache)
    elsewhere = Ledgers(env=store.env)
    apply_batch(elsewhere, HANDLERS, [stock_received(21)])

    # when this consumer applies the next event of that ledger
    outcome = apply_batch(app, HANDLERS, [stock_received(41)], cache)

    # then it was applied to the stored ledger, not the stale copy
    assert outcome.applied == 1
    assert references(app) == ["in-1", "in-21", "in-41"]


def test_a_stale_aggregate_that_is_only_read_is_reloaded(store: Store) -> None:
    # Given a handler that only reads the ledger to decide what it writes elsewhere
    app, cache = Ledgers(env=store.env), AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(1)], cache)
    apply_batch(Ledgers(env=store.env), HANDLERS, [stock_received(21)])
    seen: list[int] = []

    def count_references(received: StockReceived, uow: UnitOfWork) -> None:
        seen.append(len(uow.get(ledger_id(SKU)).references))

    # when it runs on the cached ledger that another writer has changed
    apply_batch(app, {StockReceived: count_references}, [stock_received(41)], cache)

    # then the stale read was caught before commit and the batch re-ran on the stored ledger
    assert seen == [1, 2]


def test_a_refusal_on_a_stale_cached_aggregate_is_retried_on_the_stored_one(
    store: Store,
) -> None:
    # Given a handler that refuses an event until the ledger holds two references
    app, cache = Ledgers(env=store.env), AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(1)], cache)
    apply_batch(Ledgers(env=store.env), HANDLERS, [stock_received(21)])

    def needs_two(received: StockReceived, uow: UnitOfWork) -> None:
        if len(uow.get(ledger_id(SKU)).references) < 2:
            raise ValueError("the ledger does not hold two references yet")
        on_stock_received(received, uow)

    # when it runs on the cached ledger that another writer has brought to two
    outcome = apply_batch(app, {StockReceived: needs_two}, [stock_received(41)], cache)

    # then the refusal rested on the stale copy: not a failure, the stored ledger took it
    assert (outcome.applied, outcome.failed) == (1, [])
    assert references(app) == ["in-1", "in-21", "in-41"]


def test_a_batch_that_fails_leaves_no_half_changed_aggregate_in_the_cache(store: Store) -> None:
    app, cache = Ledgers(env=store.env), AggregateCache()
    apply_batch(app, HANDLERS, [stock_received(1)], cache)

    def fussy(received: StockReceived, uow: UnitOfWork) -> None:
        on_stock_received(received, uow)  # changes the cached ledger, then refuses
        raise ValueError("refused")

    apply_batch(app, {StockReceived: fussy}, [stock_received(21)], cache)
    apply_batch(app, HANDLERS, [stock_received(41)], cache)

    assert references(app) == ["in-1", "in-41"]
    assert cache.get(ledger_id(SKU)).references == ["in-1", "in-41"]


def test_the_cache_keeps_the_most_recently_used() -> None:
    cache = AggregateCache(size=2)
    first, second, third = Ledger("A"), Ledger("B"), Ledger("C")
    cache.keep([first, second])
    cache.get(first.id)

    cache.keep([third])

    assert (cache.get(first.id), cache.get(second.id), cache.get(third.id)) == (first, None, third)
