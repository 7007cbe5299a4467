"""Shipments and dispatches, given events, when a command, then the state."""

from __future__ import annotations

from uuid import uuid4

import pytest

from orderflow.fulfillment.application import step
from orderflow.fulfillment.carrier import SandboxCarrier
from orderflow.fulfillment.domain import (
    Dispatch,
    IllegalTransition,
    Shipment,
    backorder_shipment_id,
    dispatch_id,
    shipment_id_for,
)
from orderflow.fulfillment.translate import translate

pytestmark = pytest.mark.unit
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def given_shipment(postal_code: str = "10115") -> Shipment:
    order = uuid4()
    return Shipment(
        id=shipment_id_for(order, "berlin"),
        order_id=order,
        warehouse="berlin",
        lines={"SKU-1": 2},
        address={**ADDRESS, "postal_code": postal_code},
        correlation_id=uuid4(),
        caused_by=None,
    )


def test_a_shipment_goes_created_picked_packed_shipped_delivered() -> None:
    shipment, carrier = given_shipment(), SandboxCarrier()
    for to in ("picked", "packed", "shipped", "delivered"):
        step(carrier, shipment, to)
        assert shipment.state == to
    assert shipment.carrier is not None
    assert shipment.carrier["tracking_url"].startswith("https://")


@pytest.mark.parametrize("to", ["packed", "shipped", "delivered", "created"])
def test_skipping_a_step_is_illegal(to: str) -> None:
    shipment = given_shipment()
    with pytest.raises(IllegalTransition, match=f"created shipment cannot be {to}"):
        step(SandboxCarrier(), shipment, to)
    assert shipment.state == "created"


def test_a_carrier_refusal_is_an_exception_for_a_person() -> None:
    shipment, carrier = given_shipment(postal_code="00000"), SandboxCarrier()
    step(carrier, shipment, "picked")
    step(carrier, shipment, "packed")
    step(carrier, shipment, "shipped")
    assert (shipment.state, shipment.problem) == ("exception", "no service to postal code 00000")
    with pytest.raises(IllegalTransition, match=r"^an exception shipment cannot be picked$"):
        step(carrier, shipment, "picked")


def test_a_refusal_stored_by_an_earlier_version_replays_and_stays_private() -> None:
    # Given a shipment whose refusal an earlier version stored as "Failed", publishing nothing
    shipment = given_shipment(postal_code="00000")
    shipment._failed(problem="no service to postal code 00000")
    stored = shipment.collect_events()

    # when it is read back from its events
    replayed = None
    for domain_event in stored:
        replayed = domain_event.mutate(replayed)

    # then it is the same exception, and the relay still publishes nothing for that refusal
    assert isinstance(replayed, Shipment)
    assert (replayed.state, replayed.problem) == ("exception", "no service to postal code 00000")
    assert translate(stored[-1], position=2) is None


def test_a_cancellation_stops_what_has_not_left_only() -> None:
    waiting, gone = given_shipment(), given_shipment()
    for to in ("picked", "packed", "shipped"):
        step(SandboxCarrier(), gone, to)
    assert waiting.cancel() is True
    assert gone.cancel() is False
    assert (waiting.state, gone.state) == ("cancelled", "shipped")


def test_shipments_are_due_once_allocated_and_authorised_in_any_order() -> None:
    order = uuid4()
    dispatch = Dispatch(id=dispatch_id(order), order_id=order)
    dispatch.authorize()
    assert not dispatch.due_for_shipments()
    dispatch.allocated(
        [
            {"warehouse": "berlin", "sku": "SKU-1", "quantity": 2},
            {"warehouse": "paris", "sku": "SKU-2", "quantity": 1, "backordered": True},
        ],
        uuid4(),
    )
    assert dispatch.due_for_shipments()
    assert dispatch.allocation == {"berlin": {"SKU-1": 2}}, "backordered units wait for stock"
    dispatch.cancel(uuid4())
    assert not dispatch.due_for_shipments()


def test_a_filled_backorder_is_due_once_the_order_can_ship_and_only_once() -> None:
    order = uuid4()
    dispatch = Dispatch(id=dispatch_id(order), order_id=order)
    dispatch.allocated(
        [{"warehouse": "paris", "sku": "SKU-2", "quantity": 3, "backordered": True}], uuid4()
    )
    dispatch.backorder_filled(1, [{"warehouse": "paris", "sku": "SKU-2", "quantity": 2}])
    assert dispatch.fills_due() == [], "not before the payment and the address"

    dispatch.placed(ADDRESS, uuid4())
    dispatch.authorize()
    dispatch.created([])  # nothing from stock on hand: all of it was backordered
    dispatch.backorder_filled(1, [{"warehouse": "paris", "sku": "SKU-2", "quantity": 2}])
    assert not dispatch.due_for_shipments()
    assert dispatch.fills_due() == [1]
    assert dispatch.fills[1] == {"paris": {"SKU-2": 2}}

    dispatch.created_for_fill(1, [backorder_shipment_id(order, 1, "paris")])
    assert dispatch.fills_due() == []
    dispatch.backorder_filled(2, [{"warehouse": "paris", "sku": "SKU-2", "quantity": 1}])
    dispatch.cancel(uuid4())
    assert dispatch.fills_due() == [], "a cancelled order ships nothing more"
