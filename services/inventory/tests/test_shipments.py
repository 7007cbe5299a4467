"""A shipment commits the shipped lines only, on both stores; an order cancelled after it
keeps what it holds until fulfillment says what it stopped, then releases the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from inventory_data import authorized, cancelled, order_placed, received, shipped, stopped

from orderflow.inventory.application import Inventory
from orderflow.inventory.domain import Reservation, StoppedOrder, reservation_id
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

    a, b = app.stock("SKU-A"), app.stock("SKU-B")
    assert a is not None
    assert b is not None
    assert (a.on_hand["berlin"], a.reserved("berlin")) == (7, 0)
    assert (b.on_hand["berlin"], b.reserved("berlin")) == (10, 2), "not shipped: still reserved"
    app.close()


def test_a_cancellation_that_crossed_a_shipment_releases_the_rest_once_fulfillment_stopped_it(
    store: Store, store_settings: Settings
) -> None:
    # Given an order of two SKUs, one of them shipped, and the order then cancelled
    app, order = Inventory(store.env, store_settings), uuid4()
    apply_batch(app, HANDLERS, [received("SKU-A", "berlin", 10), received("SKU-B", "berlin", 10)])
    apply_batch(app, HANDLERS, [order_placed(order, {"SKU-A": 3, "SKU-B": 2}), authorized(order)])
    apply_batch(app, HANDLERS, [shipped(order, "berlin", {"SKU-A": 3})])

    # when inventory hears of the cancellation, nothing moves: a parcel may still be leaving
    apply_batch(app, HANDLERS, [cancelled(order)])
    b = app.stock("SKU-B")
    assert b is not None
    assert b.reserved("berlin") == 2

    # then fulfillment's answer releases what did not leave, and only that
    done = apply_batch(app, HANDLERS, [stopped(order, went_ahead=[uuid4()])])

    a, b = app.stock("SKU-A"), app.stock("SKU-B")
    assert a is not None
    assert b is not None
    assert not done.failed
    assert (a.on_hand["berlin"], a.reserved("berlin")) == (7, 0), "shipped: gone for good"
    assert (b.on_hand["berlin"], b.reserved("berlin"), b.available("berlin")) == (10, 0, 10)
    reservation = app.reservation(order)
    assert reservation is not None
    assert reservation.state == "released"
    assert [(a["sku"], a["quantity"]) for a in reservation.unshipped()] == [("SKU-B", 2)]
    app.close()


def test_an_order_stopped_before_inventory_saw_it_placed_holds_nothing(
    store: Store, store_settings: Settings
) -> None:
    # Given fulfillment's answer to a cancellation, read before the order's OrderPlaced (the
    # two topics are consumed apart)
    app, order = Inventory(store.env, store_settings), uuid4()
    apply_batch(app, HANDLERS, [received("SKU-A", "berlin", 10)])
    apply_batch(app, HANDLERS, [stopped(order)])

    # when the OrderPlaced arrives
    done = apply_batch(app, HANDLERS, [order_placed(order, {"SKU-A": 3})])

    # then nothing is held for the cancelled order
    a = app.stock("SKU-A")
    assert a is not None
    assert not done.failed
    assert (a.on_hand["berlin"], a.reserved("berlin"), a.available("berlin")) == (10, 0, 10)
    assert app.reservation(order) is None
    app.close()


def test_a_stop_and_a_reservation_of_one_order_cannot_both_be_recorded(
    store: Store, store_settings: Settings
) -> None:
    # Given an order recorded as stopped by the instance that read fulfillment's topic first
    app, order = Inventory(store.env, store_settings), uuid4()
    app.save(StoppedOrder(id=reservation_id(order), order_id=order))

    # when another instance, which read the order's OrderPlaced meanwhile, records a reservation
    reservation = Reservation(
        id=reservation_id(order),
        order_id=order,
        allocations=[{"warehouse": "berlin", "sku": "SKU-A", "quantity": 1}],
        short_lines=[],
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        correlation_id=uuid4(),
        caused_by=uuid4(),
    )

    # then the store refuses it (its consumer retries the batch, and then finds the stop)
    with pytest.raises(IntegrityError):
        app.save(reservation)
    assert app.reservation(order) is None
    app.close()
