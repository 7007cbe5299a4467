"""A reservation's states, given events, when a payment arrives, then its events: topics are not
consumed in step, so a payment may arrive after the reservation was released or committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from orderflow.inventory.domain import IllegalTransition, Reservation, reservation_id

pytestmark = pytest.mark.unit
ALLOCATION = {"warehouse": "berlin", "sku": "SKU-1", "quantity": 2}


def given_held() -> Reservation:
    order_id = uuid4()
    reservation = Reservation(
        id=reservation_id(order_id),
        order_id=order_id,
        allocations=[ALLOCATION],
        short_lines=[],
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        correlation_id=uuid4(),
        caused_by=uuid4(),
    )
    reservation.collect_events()
    return reservation


def events(reservation: Reservation) -> list[str]:
    return [type(e).__name__ for e in reservation.collect_events()]


def test_a_payment_moves_a_held_reservation_on() -> None:
    reservation = given_held()
    reservation.authorize(uuid4())
    assert (events(reservation), reservation.state) == (["Authorized"], "authorized")


def test_a_payment_after_a_cancellation_released_the_stock_changes_nothing() -> None:
    # Given a reservation released because the order was cancelled
    reservation = given_held()
    assert reservation.release("cancelled", uuid4())
    reservation.collect_events()

    # when the payment authorised before the cancellation reached billing arrives
    reservation.authorize(uuid4())

    # then nothing is held again (billing voids the authorisation)
    assert (events(reservation), reservation.state) == ([], "released")


def test_a_payment_after_every_line_shipped_changes_nothing() -> None:
    # Given a reservation whose lines all shipped (fulfillment's topic ran ahead of billing's)
    reservation = given_held()
    reservation.ship("berlin", "SKU-1", 2, uuid4())
    reservation.collect_events()

    # when the payment arrives, then the reservation stays committed
    reservation.authorize(uuid4())
    assert (events(reservation), reservation.state) == ([], "committed")


def test_a_second_payment_is_refused() -> None:
    reservation = given_held()
    reservation.authorize(uuid4())
    with pytest.raises(IllegalTransition, match="authorized reservation"):
        reservation.authorize(uuid4())
