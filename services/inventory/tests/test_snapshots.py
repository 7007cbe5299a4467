"""A SKU's stock takes a few events for every order that takes it, so a popular SKU's history
grows without end: it is loaded from a snapshot taken every 200 events, not replayed whole,
and what the snapshot gives is what the history gives."""

from __future__ import annotations

import pytest

from orderflow.inventory.application import Inventory
from orderflow.inventory.domain import sku_id
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration


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
