"""A shipment commits the shipped lines only, on both stores; a cancellation after it is
refused (and would be dead-lettered by the consumer), leaving the rest reserved."""

from __future__ import annotations

from uuid import uuid4

import pytest
from inventory_data import authorized, cancelled, order_placed, received, shipped

from orderflow.inventory.application import Inventory
from orderflow.inventory.policies import HANDLERS
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration


def test_a_shipment_takes_only_its_lines_off_stock(store: Store, store_settings: Settings) -> None:
    app, order = Inventory(store.env, store_settings), uuid4()
    apply_batch(app, HANDLERS, [received("SKU-A", "berlin", 10), received("SKU-B", "berlin", 10)])
    apply_batch(app, HANDLERS, [order_placed(order, {"SKU-A": 3, "SKU-B": 2}), authorized(order)])

    apply_batch(app, HANDLERS, [shipped(order, "berlin", {"SKU-A": 3})])
    refused = apply_batch(app, HANDLERS, [cancelled(order)])

    a, b = app.stock("SKU-A"), app.stock("SKU-B")
    assert a is not None
    assert b is not None
    assert (a.on_hand["berlin"], a.reserved("berlin")) == (7, 0)
    assert (b.on_hand["berlin"], b.reserved("berlin")) == (10, 2), "not shipped: still reserved"
    assert [str(failure.error) for failure in refused.failed] == [
        "the order has begun shipping; its other lines go on"
    ]
    app.close()
