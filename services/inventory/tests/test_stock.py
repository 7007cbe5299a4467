"""A SKU's stock and the allocation rules, given events, when a command, then the state."""

from __future__ import annotations

from uuid import uuid4

import pytest

from orderflow.inventory.allocation import Short, Take, allocate
from orderflow.inventory.domain import IllegalTransition, SkuStock, sku_id
from orderflow.runtime.settings import Warehouse

pytestmark = pytest.mark.unit
WAREHOUSES = (
    Warehouse(id="paris", name="Paris", priority=2, country="FR"),
    Warehouse(id="berlin", name="Berlin", priority=1, country="DE"),
)


def given_stock(threshold: int = 0, backorders: bool = False, **on_hand: int) -> SkuStock:
    stock = SkuStock(
        id=sku_id("SKU-1"), sku="SKU-1", threshold=threshold, allow_backorder=backorders
    )
    for warehouse, quantity in on_hand.items():
        stock.receive(warehouse, quantity, reference=None)
    stock.collect_events()
    return stock


def events(stock: SkuStock) -> list[str]:
    return [type(e).__name__ for e in stock.collect_events()]


def test_one_warehouse_that_holds_the_whole_order_is_preferred_over_priority() -> None:
    one = given_stock(berlin=1, paris=5)
    two = SkuStock(id=sku_id("SKU-2"), sku="SKU-2", threshold=0, allow_backorder=False)
    two.receive("paris", 1, None)

    takes, short = allocate([("SKU-1", 3), ("SKU-2", 1)], {"SKU-1": one, "SKU-2": two}, WAREHOUSES)

    assert (takes, short) == ([Take("paris", "SKU-1", 3), Take("paris", "SKU-2", 1)], [])


def test_otherwise_a_line_is_split_by_priority() -> None:
    stock = given_stock(berlin=2, paris=5)
    takes, _ = allocate([("SKU-1", 6)], {"SKU-1": stock}, WAREHOUSES)
    assert takes == [Take("berlin", "SKU-1", 2), Take("paris", "SKU-1", 4)]


def test_a_short_line_fails_the_whole_order() -> None:
    stock = given_stock(berlin=2)
    takes, short = allocate(
        [("SKU-1", 1), ("SKU-9", 1)], {"SKU-1": stock, "SKU-9": None}, WAREHOUSES
    )
    assert (takes, short) == ([], [Short("SKU-9", 1, 0)])


def test_a_backorder_sku_takes_the_rest_against_incoming_stock() -> None:
    stock = given_stock(backorders=True, berlin=2)
    takes, short = allocate([("SKU-1", 5)], {"SKU-1": stock}, WAREHOUSES)
    assert (takes, short) == ([Take("berlin", "SKU-1", 2), Take("berlin", "SKU-1", 3, True)], [])


def test_receipts_fill_backorders_oldest_order_first() -> None:
    stock = given_stock(backorders=True)
    older, newer = uuid4(), uuid4()
    stock.hold(newer, "berlin", 0, 2, "2026-11-26T10:00:02+00:00")
    stock.hold(older, "berlin", 0, 2, "2026-11-26T10:00:01+00:00")
    assert stock.available("berlin") == -4, "negative only by declared backorders"

    stock.receive("berlin", 3, "delivery-7")

    assert stock.holds[str(older)]["berlin"][:2] == [2, 0]
    assert stock.holds[str(newer)]["berlin"][:2] == [1, 1]
    assert stock.receive("berlin", 3, "delivery-7") is False, "a resent receipt counts once"
    assert stock.on_hand["berlin"] == 3


def test_low_stock_is_announced_once_per_crossing() -> None:
    stock = given_stock(threshold=5, berlin=10)

    for _ in range(4):
        stock.hold(uuid4(), "berlin", 2, 0, "2026-11-26T10:00:00+00:00")

    assert events(stock).count("LowStockDetected") == 1
    stock.receive("berlin", 10, None)
    assert events(stock) == ["Received", "Restocked"]
    stock.hold(uuid4(), "berlin", 10, 0, "2026-11-26T10:00:00+00:00")
    assert events(stock) == ["Held", "LowStockDetected"]


def test_shipping_commits_only_the_shipped_units() -> None:
    stock, order = given_stock(berlin=10), uuid4()
    stock.hold(order, "berlin", 4, 0, "2026-11-26T10:00:00+00:00")

    stock.ship(order, "berlin", 3)

    assert (stock.on_hand["berlin"], stock.reserved("berlin"), stock.available("berlin")) == (
        7,
        1,
        6,
    )
    with pytest.raises(IllegalTransition, match="cannot ship 2"):
        stock.ship(order, "berlin", 2)


def test_an_adjustment_cannot_take_away_reserved_units() -> None:
    stock, order = given_stock(berlin=5), uuid4()
    stock.hold(order, "berlin", 4, 0, "2026-11-26T10:00:00+00:00")

    stock.adjust("berlin", -1, "cycle_count")
    with pytest.raises(IllegalTransition, match="4 units are reserved"):
        stock.adjust("berlin", -1, "cycle_count")
    assert stock.on_hand["berlin"] == 4


def test_releasing_an_order_frees_what_it_held() -> None:
    stock, order = given_stock(berlin=5), uuid4()
    stock.hold(order, "berlin", 5, 0, "2026-11-26T10:00:00+00:00")
    stock.release(order)
    stock.release(order)  # a second release finds nothing: no effect
    assert stock.available("berlin") == 5
    assert events(stock).count("Released") == 1
