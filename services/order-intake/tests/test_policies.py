"""Policies: another service's event in, the order's command out; run against a unit of work
that keeps aggregates in a dict (a fake of our store is fine here: no I/O is under test)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from intake_data import submission

from orderflow.intake.application import place
from orderflow.intake.domain import IllegalTransition, Order, Status, order_id_for
from orderflow.intake.policies import (
    on_declined,
    on_released,
    on_reservation_failed,
    on_reserved,
    on_submitted,
    rescue,
)
from orderflow.schemas.billing import PaymentDeclined
from orderflow.schemas.codec import decode, encode
from orderflow.schemas.errors import DecodeError
from orderflow.schemas.inventory import (
    ShortLine,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from orderflow.schemas.money import Money

pytestmark = pytest.mark.unit
ORDER = order_id_for("web", "web-1001")


class DictUnitOfWork:
    def __init__(self, *aggregates: Any) -> None:
        self.touched = {aggregate.id: aggregate for aggregate in aggregates}

    def find(self, aggregate_id: UUID) -> Any | None:
        return self.touched.get(aggregate_id)

    def add(self, aggregate: Any) -> None:
        self.touched[aggregate.id] = aggregate


def given_order() -> tuple[Order, DictUnitOfWork]:
    order = place(submission())
    return order, DictUnitOfWork(order)


def envelope(source: str) -> dict[str, Any]:
    return {"correlation_id": uuid4(), "order_id": ORDER, "source": source, "source_position": 7}


def reserved() -> StockReserved:
    return StockReserved.model_validate(
        {
            **envelope("inventory"),
            "reservation_id": uuid4(),
            "allocations": [{"warehouse": "berlin", "sku": "SKU-001", "quantity": 2}],
            "expires_at": "2026-11-26T12:15:00Z",
        },
        strict=False,
    )


def test_a_second_submission_of_one_order_adds_nothing() -> None:
    order, uow = given_order()
    on_submitted(submission(), uow)  # type: ignore[arg-type]
    assert list(uow.touched) == [order.id]
    assert uow.touched[order.id] is order


def test_a_failed_reservation_rejects_with_a_reason_per_short_line() -> None:
    order, uow = given_order()
    failed = StockReservationFailed(
        **envelope("inventory"), short_lines=[ShortLine(sku="SKU-001", requested=2, available=1)]
    )
    on_reservation_failed(failed, uow)  # type: ignore[arg-type]
    assert order.status is Status.REJECTED
    assert order.reasons == [
        {"code": "out_of_stock", "message": "SKU-001: 2 requested, 1 available", "field": "SKU-001"}
    ]


def test_a_declined_payment_cancels_the_order() -> None:
    order, uow = given_order()
    on_reserved(reserved(), uow)  # type: ignore[arg-type]
    declined = PaymentDeclined(
        **envelope("billing"), payment_id=uuid4(), amount=Money.of("49.88", "EUR"), reason="no"
    )

    on_declined(declined, uow)  # type: ignore[arg-type]

    assert order.reasons[0]["code"] == "payment_declined"


def released(reason: str) -> StockReleased:
    return StockReleased(
        **envelope("inventory"),
        reservation_id=uuid4(),
        allocations=reserved().allocations,
        reason=reason,  # type: ignore[arg-type]
    )


def test_only_an_expiry_release_cancels_the_order() -> None:
    order, uow = given_order()
    on_reserved(reserved(), uow)  # type: ignore[arg-type]

    on_released(released("cancelled"), uow)  # type: ignore[arg-type]
    assert order.status is Status.STOCK_RESERVED, "the echo of a cancellation changes nothing"

    on_released(released("expired"), uow)  # type: ignore[arg-type]
    assert order.status is Status.CANCELLED
    assert order.reasons[0]["code"] == "reservation_expired"


def test_an_event_for_an_unknown_order_is_refused() -> None:
    with pytest.raises(LookupError, match="no order"):
        on_reserved(reserved(), DictUnitOfWork())  # type: ignore[arg-type]


def test_an_event_the_order_cannot_take_is_refused_with_the_reason() -> None:
    _, uow = given_order()
    on_reserved(reserved(), uow)  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition, match="already holds reservation"):
        on_reserved(reserved(), uow)  # type: ignore[arg-type]


def refused(value: bytes, headers: list[tuple[str, bytes]]) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(value, headers)
    return caught.value


def test_an_invalid_submission_is_rescued_as_its_rejection() -> None:
    encoded = encode(submission())
    broken = encoded.value.replace(b'"quantity":2', b'"quantity":0')

    rescued = rescue(refused(broken, encoded.headers))

    assert rescued is not None
    assert [reason.field for reason in rescued.reasons] == ["lines.0.quantity"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [b"\x00garbage", b'{"channel": "web"}', b'{"channel": "web", "external_id": "no spaces!"}'],
    ids=["not json", "no external id", "bad external id"],
)
def test_a_submission_too_broken_to_answer_is_left_to_the_dead_letters(value: bytes) -> None:
    headers = encode(submission()).headers
    assert rescue(refused(value, headers)) is None
