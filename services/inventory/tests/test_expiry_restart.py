"""The reservation clock survives a restart: what was due before the process stopped is found
and released by the next one, from the store alone; an authorised reservation is never due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from inventory_data import authorized, order_placed, received

from orderflow.inventory.application import Inventory
from orderflow.inventory.policies import HANDLERS
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration


def test_a_restarted_inventory_releases_what_fell_due_while_it_was_down(
    store: Store, store_settings: Settings
) -> None:
    settings = store_settings.model_copy(update={"reservation_ttl_s": 60.0})
    before = Inventory(store.env, settings)
    unpaid, paid = uuid4(), uuid4()
    apply_batch(before, HANDLERS, [received("SKU-R", "berlin", 5)])
    apply_batch(
        before, HANDLERS, [order_placed(unpaid, {"SKU-R": 2}), order_placed(paid, {"SKU-R": 1})]
    )
    apply_batch(before, HANDLERS, [authorized(paid)])
    before.close()

    after = Inventory(dict(store.env), settings)
    released = after.expire_due(datetime.now(UTC) + timedelta(minutes=2))

    assert released == 1
    states = {order: after.reservation(order).state for order in (unpaid, paid)}  # type: ignore[union-attr]
    assert states == {unpaid: "released", paid: "authorized"}
    stock = after.stock("SKU-R")
    assert stock is not None
    assert (stock.reserved("berlin"), stock.available("berlin")) == (1, 4)
    assert after.expire_due(datetime.now(UTC) + timedelta(minutes=2)) == 0, "released once"
    after.close()
