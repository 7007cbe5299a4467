"""A SKU's stock takes a few events for every order that takes it, so a popular SKU's history
grows without end: it is loaded from a snapshot taken every 200 events, not replayed whole,
and what the snapshot gives is what the history gives, from snapshots of every shape."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot

from orderflow.inventory.application import Inventory
from orderflow.inventory.domain import IllegalTransition, sku_id
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration
AT = "2026-12-05T12:00:00+00:00"  # when the orders were placed


class ReplayingInventory(Inventory):
    """The same application without snapshots: every load replays the whole history."""

    name = Inventory.name  # the same tables
    snapshotting_intervals = {}  # noqa: RUF012 - cleared on purpose, for the comparison


def test_a_busy_skus_stock_is_loaded_from_a_snapshot_equal_to_its_history(
    store: Store, store_settings: Settings
) -> None:
    # given a SKU received 450 times, low-stock policy set on the way
    inventory = Inventory(store.env, store_settings)
    for number in range(450):
        inventory.change_stock("SKU-1", lambda s, n=number: s.receive("berlin", 1, f"r-{n}"))
        if number == 300:
            inventory.change_stock("SKU-1", lambda s: s.set_policy(500, False))

    # when it is loaded
    stock = inventory.stock("SKU-1")

    # then snapshots were taken every 200 events and give the state the full history gives
    assert inventory.snapshots is not None
    taken = [s.originator_version for s in inventory.snapshots.get(sku_id("SKU-1"))]
    assert taken == [200, 400]
    replayed = ReplayingInventory(store.env, store_settings).stock("SKU-1")
    assert stock is not None
    assert replayed is not None
    assert stock.version == replayed.version
    assert vars(stock) == vars(replayed)
    assert stock.references == {f"r-{n}" for n in range(450)}
    assert stock.low == {"berlin"}


def test_a_snapshot_from_before_the_kept_totals_loads_with_them(
    store: Store, store_settings: Settings
) -> None:
    # given a SKU's snapshot in the shape taken before totals were kept (no class version),
    # with three orders holding stock in two warehouses, and a shipment after it
    inventory = Inventory(store.env, store_settings)
    orders = [uuid4() for _ in range(3)]
    inventory.change_stock("SKU-1", lambda s: s.receive("berlin", 10, "r-1"))
    inventory.change_stock("SKU-1", lambda s: s.receive("paris", 10, "r-2"))
    holds = zip(orders, [("berlin", 2), ("berlin", 3), ("paris", 4)], strict=True)
    for order, (warehouse, quantity) in holds:
        inventory.change_stock(
            "SKU-1", lambda s, o=order, w=warehouse, q=quantity: s.hold(o, w, q, 0, AT)
        )
    stock = inventory.stock("SKU-1")
    assert stock is not None
    taken = Snapshot.take(stock)
    older = {k: v for k, v in taken.state.items() if k not in ("totals", "class_version")}
    assert inventory.snapshots is not None
    inventory.snapshots.put([replace(taken, state=older)])
    inventory.change_stock("SKU-1", lambda s: s.ship(orders[0], "berlin", 2))

    # when it is loaded by a fresh application
    loaded = Inventory(dict(store.env), store_settings).stock("SKU-1")

    # then its totals are summed from the snapshot's holds, the later shipment counted
    assert loaded is not None
    assert (loaded.reserved("berlin"), loaded.reserved("paris")) == (3, 4)
    assert (loaded.available("berlin"), loaded.available("paris")) == (5, 6)


def test_a_snapshot_from_before_receipts_were_kept_takes_its_references_as_before(
    store: Store, store_settings: Settings
) -> None:
    # given a SKU's snapshot in the shape taken before receipts were kept (class version 2)
    inventory = Inventory(store.env, store_settings)
    inventory.change_stock("SKU-1", lambda s: s.receive("berlin", 10, "r-1"))
    stock = inventory.stock("SKU-1")
    assert stock is not None
    taken = Snapshot.take(stock)
    older = {k: v for k, v in taken.state.items() if k != "receipts"} | {"class_version": 2}
    assert inventory.snapshots is not None
    inventory.snapshots.put([replace(taken, state=older)])

    # when a fresh application loads it, and receipts arrive under its reference and a new one
    fresh = Inventory(dict(store.env), store_settings)
    fresh.change_stock("SKU-1", lambda s: s.receive("berlin", 99, "r-1"))
    fresh.change_stock("SKU-1", lambda s: s.receive("berlin", 5, "r-2"))

    # then the old reference is taken as a resend, as before (what it received is not known),
    # and the new one is kept, so a different receipt under it is refused
    loaded = Inventory(dict(store.env), store_settings).stock("SKU-1")
    assert loaded is not None
    assert loaded.available("berlin") == 15
    with pytest.raises(IllegalTransition, match="'r-2' received 5 into berlin, not 6 into berlin"):
        loaded.receive("berlin", 6, "r-2")
