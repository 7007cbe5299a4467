"""The simulator's delay counts from a shipment's last step, not from its creation, on both
stores: a shipment picked just now is not due for packing, however old it is."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from fulfillment_data import order_placed, payment_authorized, stock_reserved

from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.domain import shipment_id_for
from orderflow.fulfillment.policies import HANDLERS
from orderflow.fulfillment.simulator import advance_all
from orderflow.runtime.cache import AggregateCache
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store

pytestmark = pytest.mark.integration


def test_a_step_is_due_only_a_delay_after_the_previous_step(
    store: Store, store_settings: Settings
) -> None:
    app, order = Fulfillment(store.env, store_settings), uuid4()
    apply_batch(
        app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
    )
    berlin = shipment_id_for(order, "berlin")
    time.sleep(1.2)

    assert berlin in app.due("created", older_than=1.0), "created over a second ago"
    app.move(berlin, "picked")

    assert app.due("picked", older_than=1.0) == [], "picked just now: not yet"
    assert app.due("picked", older_than=0) == [berlin]
    app.close()


def test_a_round_moves_each_due_shipment_once_even_if_a_person_moved_one(
    store: Store, store_settings: Settings
) -> None:
    # Given two shipments the simulator's round has picked (and so holds in its cache)
    app, cache = Fulfillment(store.env, store_settings), AggregateCache()
    orders = [uuid4(), uuid4()]
    for order in orders:
        apply_batch(
            app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
        )
    shipments = [shipment_id_for(order, "berlin") for order in orders]
    assert app.move_all(shipments, "picked", cache) == 2

    # when a person packs the first before the round packs both
    app.move(shipments[0], "packed")
    moved = app.move_all(shipments, "packed", cache)

    # then the round packed only the second, and the first was packed once
    assert moved == 1
    packed = [app.shipment(shipment) for shipment in shipments]
    assert [shipment.state for shipment in packed if shipment] == ["packed", "packed"]
    assert [shipment.version for shipment in packed if shipment] == [3, 3]
    app.close()


def test_with_no_delay_a_round_takes_each_shipment_all_the_way_in_one_transaction(
    store: Store, store_settings: Settings
) -> None:
    # Given two orders' shipments just created, and no delay between steps,
    no_delay = store_settings.model_copy(update={"warehouse_delay_s": 0})
    app, cache = Fulfillment(store.env, no_delay), AggregateCache()
    orders = [uuid4(), uuid4()]
    for order in orders:
        apply_batch(
            app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
        )
    writes = app.recorder.writes  # type: ignore[attr-defined]
    before = writes.count

    # when the simulator runs one round,
    moved = advance_all(app, cache)

    # then every shipment took its four steps, written in one transaction, not one per step.
    shipments = [shipment for order in orders for shipment in app.shipments_of(order) or []]
    assert shipments, "the orders have shipments"
    assert {shipment.state for shipment in shipments} == {"delivered"}
    assert moved == 4 * len(shipments)
    assert writes.count - before == 1
    app.close()


def test_a_round_that_meets_a_persons_move_finishes_each_shipment_once(
    store: Store, store_settings: Settings
) -> None:
    # Given two shipments the simulator's round has picked (and so holds in its cache)
    app, cache = Fulfillment(store.env, store_settings), AggregateCache()
    orders = [uuid4(), uuid4()]
    for order in orders:
        apply_batch(
            app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
        )
    shipments = [shipment_id_for(order, "berlin") for order in orders]
    assert app.move_all(shipments, "picked", cache) == 2

    # when a person packs the first before a round with no delay finishes both,
    app.move(shipments[0], "packed")
    writes = app.recorder.writes  # type: ignore[attr-defined]
    before = writes.count
    moved = app.finish_all(shipments, cache)

    # then each is delivered, having taken each step once (the first two steps, the second
    # three), and each in a transaction of its own once the round's one was refused.
    finished = [app.shipment(shipment) for shipment in shipments]
    assert [shipment.state for shipment in finished if shipment] == ["delivered", "delivered"]
    assert [shipment.version for shipment in finished if shipment] == [5, 5]
    assert moved == 2 + 3
    assert writes.count - before == 2
    app.close()
