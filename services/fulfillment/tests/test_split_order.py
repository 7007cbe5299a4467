"""An order split across two warehouses, through a real broker on both stores, with billing
running beside fulfillment on one shared topic: two shipments, two Shipped, two Delivered from
the warehouse simulator, and two Invoiced from billing that add up to the order total. A
backordered line ships when its stock arrives, each fill as a shipment of its own."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import uuid4

import pytest
from fulfillment_data import backorder_filled, order_placed, stock_reserved

from orderflow.billing.application import Billing
from orderflow.billing.service import SERVICE as BILLING
from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.service import SERVICE as FULFILLMENT
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import store_for
from orderflow.runtime.testkit import Outbox, Topics, of_type, publish, running
from orderflow.schemas.billing import Invoiced
from orderflow.schemas.envelope import Message
from orderflow.schemas.fulfillment import Delivered, ShipmentCreated, Shipped

pytestmark = pytest.mark.integration


def distinct(messages: list[Message], kind: type[Message]) -> list[Message]:
    return list({m.event_id: m for m in of_type(messages, kind)}.values())


def test_a_split_order_ships_twice_and_is_invoiced_twice(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    bus = unique("bus")
    topics = Topics(bus, bus, unique("dlq"))  # every service reads and writes the one topic
    fulfillment = Fulfillment(store_for(unique("ful"), store_settings).env, store_settings)
    billing = Billing(store_for(unique("bil"), store_settings).env, store_settings)
    order = uuid4()

    with (
        running(FULFILLMENT, fulfillment, kafka_bootstrap, topics, unique("ful")),
        running(BILLING, billing, kafka_bootstrap, topics, unique("bil")),
    ):
        publish(new_producer(kafka_bootstrap), bus, [order_placed(order), stock_reserved(order)])
        out = Outbox(kafka_bootstrap, bus).wait_for(
            lambda seen: len(distinct(seen, Delivered)) >= 2 and len(distinct(seen, Invoiced)) >= 2
        )

    created = distinct(out, ShipmentCreated)
    assert sorted(m.warehouse for m in created) == ["berlin", "paris"]  # type: ignore[attr-defined]
    shipped = distinct(out, Shipped)
    assert {m.shipment_id for m in shipped} == {m.shipment_id for m in created}  # type: ignore[attr-defined]
    assert all(m.tracking_url.startswith("https://") for m in shipped)  # type: ignore[attr-defined]
    invoices = distinct(out, Invoiced)
    assert {m.shipment_id for m in invoices} == {m.shipment_id for m in created}  # type: ignore[attr-defined]
    assert sum(m.gross.amount for m in invoices) == Decimal("57.38")  # type: ignore[attr-defined]
    states = [s.state for s in fulfillment.shipments_of(order) or []]
    assert states == ["delivered", "delivered"]
    fulfillment.close()
    billing.close()


def test_a_backordered_line_ships_fill_by_fill_and_the_invoices_still_add_up(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    bus = unique("bus")
    topics = Topics(bus, bus, unique("dlq"))
    fulfillment = Fulfillment(store_for(unique("ful"), store_settings).env, store_settings)
    billing = Billing(store_for(unique("bil"), store_settings).env, store_settings)
    order = uuid4()

    with (
        running(FULFILLMENT, fulfillment, kafka_bootstrap, topics, unique("ful")),
        running(BILLING, billing, kafka_bootstrap, topics, unique("bil")),
    ):
        publish(
            new_producer(kafka_bootstrap),
            bus,
            [order_placed(order), stock_reserved(order, backordered=frozenset({"SKU-1"}))],
        )
        outbox = Outbox(kafka_bootstrap, bus)
        first = outbox.wait_for(lambda seen: len(distinct(seen, Delivered)) >= 1)
        assert [m.warehouse for m in distinct(first, ShipmentCreated)] == ["paris"]  # type: ignore[attr-defined]

        fills = [backorder_filled(order, 1, "SKU-1", 1), backorder_filled(order, 2, "SKU-1", 1)]
        publish(new_producer(kafka_bootstrap), bus, [*fills, fills[0]])  # one sent twice
        out = outbox.wait_for(
            lambda seen: len(distinct(seen, Delivered)) >= 3 and len(distinct(seen, Invoiced)) >= 3
        )

    shipped = distinct(out, Shipped)
    assert sorted((m.warehouse, [(x.sku, x.quantity) for x in m.lines]) for m in shipped) == [  # type: ignore[attr-defined]
        ("berlin", [("SKU-1", 1)]),
        ("berlin", [("SKU-1", 1)]),
        ("paris", [("BOOK-1", 1)]),
    ], "each fill its own parcel; the fill sent twice ships once"
    invoices = distinct(out, Invoiced)
    assert sum(m.gross.amount for m in invoices) == Decimal("57.38")  # type: ignore[attr-defined]
    assert len(fulfillment.shipments_of(order) or []) == 3
    fulfillment.close()
    billing.close()
