"""The Order aggregate, given events, when a command or another service's event, then events.

Totals: two SKU-001 at 19.99 and one SKU-002 at 5.00, shipping 4.90: 49.88 EUR."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from intake_data import submission

from orderflow.intake.application import place
from orderflow.intake.domain import IllegalTransition, Order, Status

pytestmark = pytest.mark.unit

RESERVATION, PAYMENT = uuid4(), uuid4()
FIRST, SECOND = uuid4(), uuid4()
BOTH_LINES = {"SKU-001": 2, "SKU-002": 1}


def cause() -> UUID:
    return uuid4()


def given_placed() -> Order:
    order = place(submission())
    order.collect_events()
    return order


def given_reserved() -> Order:
    order = given_placed()
    order.reserve(RESERVATION, cause())
    order.collect_events()
    return order


def given_authorized() -> Order:
    order = given_reserved()
    order.authorize(PAYMENT, cause())
    order.collect_events()
    return order


def given_shipped(*shipments: tuple[UUID, dict[str, int]]) -> Order:
    order = given_authorized()
    for shipment_id, lines in shipments:
        order.ship(shipment_id, lines, cause())
    order.collect_events()
    return order


def then(order: Order, events: list[str], status: Status) -> None:
    assert [type(e).__name__ for e in order.collect_events()] == events
    assert order.status is status


def test_placing_an_order_computes_its_total_once() -> None:
    order = place(submission())

    then(order, ["Placed"], Status.PLACED)
    assert order.total == {"amount": "49.88", "currency": "EUR"}


def test_reserved_stock_moves_a_placed_order_on() -> None:
    order = given_placed()
    order.reserve(RESERVATION, cause())
    then(order, ["StockReserved"], Status.STOCK_RESERVED)


def test_out_of_stock_rejects_the_order() -> None:
    order = given_placed()
    order.reject_for_stock([{"code": "out_of_stock", "message": "SKU-001: 2 of 0"}], cause())
    then(order, ["Rejected"], Status.REJECTED)
    assert order.reasons[0]["code"] == "out_of_stock"


def test_an_authorised_payment_moves_a_reserved_order_on() -> None:
    order = given_reserved()
    order.authorize(PAYMENT, cause())
    then(order, ["PaymentAuthorized"], Status.PAYMENT_AUTHORIZED)


def test_a_declined_payment_cancels_the_order() -> None:
    order = given_reserved()
    order.decline("insufficient funds", cause())
    then(order, ["Cancelled"], Status.CANCELLED)
    assert order.reasons == [{"code": "payment_declined", "message": "insufficient funds"}]


def test_an_expired_reservation_cancels_the_order() -> None:
    order = given_reserved()
    order.expire(cause())
    then(order, ["Cancelled"], Status.CANCELLED)
    assert order.reasons[0]["code"] == "reservation_expired"


def test_a_reservation_that_expires_after_the_customer_cancelled_leaves_the_order_as_it_was() -> (
    None
):
    order = given_reserved()
    order.cancel("changed my mind", cause())
    order.expire(cause())
    then(order, ["Cancelled"], Status.CANCELLED)
    assert [reason["code"] for reason in order.reasons] == ["customer_request"]


def test_a_reservation_of_an_authorised_payment_cannot_expire() -> None:
    order = given_authorized()
    with pytest.raises(IllegalTransition, match="authorised"):
        order.expire(cause())
    then(order, [], Status.PAYMENT_AUTHORIZED)


def test_part_of_the_order_shipped_is_partially_shipped() -> None:
    order = given_authorized()
    order.ship(FIRST, {"SKU-001": 2}, cause())
    then(order, ["Shipped"], Status.PARTIALLY_SHIPPED)


def test_every_line_shipped_is_shipped() -> None:
    order = given_shipped((FIRST, {"SKU-001": 2}))
    order.ship(SECOND, {"SKU-002": 1}, cause())
    then(order, ["Shipped"], Status.SHIPPED)


def test_shipping_more_than_ordered_is_refused() -> None:
    order = given_authorized()
    with pytest.raises(IllegalTransition, match="SKU-001"):
        order.ship(FIRST, {"SKU-001": 3}, cause())


def test_a_shipped_order_with_every_shipment_invoiced_is_invoiced() -> None:
    order = given_shipped((FIRST, {"SKU-001": 2}), (SECOND, {"SKU-002": 1}))
    order.invoice("INV-2026-000001", FIRST, cause())
    then(order, ["Invoiced"], Status.SHIPPED)
    order.invoice("INV-2026-000002", SECOND, cause())
    then(order, ["Invoiced"], Status.INVOICED)


def test_delivery_of_an_invoiced_order_completes_it() -> None:
    order = given_shipped((FIRST, BOTH_LINES))
    order.invoice("INV-2026-000001", FIRST, cause())
    order.collect_events()
    order.deliver(FIRST, cause())
    then(order, ["Delivered", "Completed"], Status.COMPLETED)


def test_delivery_before_the_invoice_completes_on_the_invoice() -> None:
    """Fulfillment's and billing's topics race: either order of arrival ends the same way."""
    order = given_shipped((FIRST, BOTH_LINES))
    order.deliver(FIRST, cause())
    then(order, ["Delivered"], Status.SHIPPED)
    order.invoice("INV-2026-000001", FIRST, cause())
    then(order, ["Invoiced", "Completed"], Status.COMPLETED)


def test_the_channel_can_cancel_until_the_first_shipment() -> None:
    order = given_authorized()
    order.cancel("changed my mind")
    then(order, ["Cancelled"], Status.CANCELLED)
    assert order.reasons == [{"code": "customer_request", "message": "changed my mind"}]


def test_cancelling_after_the_first_shipment_is_refused() -> None:
    order = given_shipped((FIRST, {"SKU-001": 2}))
    with pytest.raises(IllegalTransition, match="begun shipping"):
        order.cancel(None)
    then(order, [], Status.PARTIALLY_SHIPPED)


def test_a_parcel_that_left_as_the_order_was_cancelled_is_recorded_on_the_cancelled_order() -> None:
    # Given an order cancelled before intake heard that one parcel had already left
    order = given_authorized()
    order.cancel("changed my mind")
    order.collect_events()

    # when that parcel's shipment, invoice and delivery arrive
    order.ship(FIRST, {"SKU-001": 2}, cause())
    order.invoice("INV-2026-000001", FIRST, cause())
    order.deliver(FIRST, cause())

    # then they are recorded and the order stays cancelled, never completed
    then(order, ["Shipped", "Invoiced", "Delivered"], Status.CANCELLED)
    assert order.invoices == {"INV-2026-000001": str(FIRST)}
    with pytest.raises(IllegalTransition, match="exceed"):
        order.ship(SECOND, {"SKU-001": 1}, cause())


def test_a_declined_payment_after_shipping_is_refused() -> None:
    order = given_shipped((FIRST, {"SKU-001": 2}))
    with pytest.raises(IllegalTransition):
        order.decline("late decline", cause())


def test_a_reservation_that_arrives_after_completion_is_recorded() -> None:
    """Inventory's topic can lag billing's and fulfillment's: the order was paid, shipped,
    invoiced and delivered before its reservation arrived."""
    order = place(submission())
    order.authorize(PAYMENT, cause())
    order.ship(FIRST, BOTH_LINES, cause())
    order.invoice("INV-2026-000001", FIRST, cause())
    order.deliver(FIRST, cause())
    order.collect_events()

    order.reserve(RESERVATION, cause())

    then(order, ["StockReserved"], Status.COMPLETED)
    assert order.reservation_id == RESERVATION


def test_a_reservation_that_arrives_after_a_cancellation_changes_nothing() -> None:
    order = given_placed()
    order.cancel("changed my mind")
    order.collect_events()

    order.reserve(RESERVATION, cause())

    then(order, [], Status.CANCELLED)


@pytest.mark.parametrize(
    "crossing",
    [
        lambda o: o.authorize(PAYMENT, cause()),
        lambda o: o.decline("insufficient funds", cause()),
    ],
    ids=["authorised", "declined"],
)
def test_a_payment_answer_that_crossed_a_cancellation_changes_nothing(crossing: object) -> None:
    # Given an order the customer cancelled while billing was asking the gateway
    order = given_reserved()
    order.cancel("changed my mind")
    order.collect_events()

    # when the gateway's answer arrives
    crossing(order)  # type: ignore[operator]

    # then the order stays cancelled for the customer's reason (billing voids an authorisation)
    then(order, [], Status.CANCELLED)
    assert order.reasons[0]["code"] == "customer_request"


@pytest.mark.parametrize(
    "late_event",
    [
        lambda o: o.reserve(uuid4(), cause()),
        lambda o: o.authorize(uuid4(), cause()),
        lambda o: o.ship(FIRST, {"SKU-001": 1}, cause()),
        lambda o: o.invoice("INV-2026-000009", FIRST, cause()),
        lambda o: o.deliver(FIRST, cause()),
        lambda o: o.cancel(None),
    ],
    ids=["reserve", "authorize", "ship", "invoice", "deliver", "cancel"],
)
def test_an_ended_order_takes_no_further_event(late_event: object) -> None:
    order = given_placed()
    order.reject_for_stock([{"code": "out_of_stock", "message": "none left"}], cause())
    order.collect_events()
    with pytest.raises(IllegalTransition, match="rejected order"):
        late_event(order)  # type: ignore[operator]
    then(order, [], Status.REJECTED)


def test_a_second_reservation_is_refused() -> None:
    order = given_reserved()
    with pytest.raises(IllegalTransition, match="already holds"):
        order.reserve(uuid4(), cause())


def test_a_reservation_failure_after_the_reservation_is_refused() -> None:
    order = given_reserved()
    with pytest.raises(IllegalTransition):
        order.reject_for_stock([{"code": "out_of_stock", "message": "late"}], cause())
