"""Contract models are strict, frozen and bounded: bad input is refused with the field named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orderflow.schemas.inventory import StockReceived
from orderflow.schemas.orders import OrderPlaced, OrderSubmitted
from orderflow.schemas.registry import BY_TYPE_AND_VERSION, MESSAGES

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures"


def placed(**changes: Any) -> dict[str, Any]:
    return {**json.loads((FIXTURE / "OrderPlaced.v2.json").read_text()), **changes}


def refused_at(model: type[OrderPlaced] | type[StockReceived], payload: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate_json(_json(payload))
    return ".".join(str(part) for part in raised.value.errors()[0]["loc"])


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload)


def test_every_message_carries_the_envelope() -> None:
    envelope = {"event_id", "type", "version", "occurred_at", "correlation_id", "causation_id"}
    for cls in MESSAGES:
        assert envelope <= set(cls.model_fields), cls.__name__
        if cls is not OrderSubmitted:
            assert {"source", "source_position"} <= set(cls.model_fields), cls.__name__
    assert len(BY_TYPE_AND_VERSION) == len(MESSAGES) == 21


def test_an_event_is_frozen() -> None:
    event = OrderPlaced.model_validate_json(_json(placed()))

    with pytest.raises(ValidationError, match="frozen"):
        event.channel = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"source_position": "42"}, "source_position"),
        ({"source_position": 0}, "source_position"),
        ({"occurred_at": "2026-03-01T09:30:00"}, "occurred_at"),
        ({"channel": "x" * 65}, "channel"),
        ({"lines": []}, "lines"),
        ({"order_id": "not-a-uuid"}, "order_id"),
        ({"customer": {"id": "c", "email": "not-an-email", "name": "A"}}, "customer.email"),
    ],
)
def test_bad_fields_are_refused_by_name(changes: dict[str, Any], field: str) -> None:
    assert refused_at(OrderPlaced, placed(**changes)) == field


def test_quantities_are_positive_bounded_integers(payloads: dict[str, dict[str, Any]]) -> None:
    receipt = payloads["StockReceived.v1"]
    for bad in (0, -1, 10_001, 2.0, "2"):
        assert refused_at(StockReceived, {**receipt, "quantity": bad}) == "quantity"


def test_times_are_kept_in_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    event = OrderPlaced.model_validate_json(_json(placed(occurred_at="2026-03-01T10:30:00+01:00")))

    assert event.occurred_at == datetime(2026, 3, 1, 10, 30, tzinfo=berlin)
    assert event.occurred_at.tzinfo == UTC


def test_an_order_total_must_add_up() -> None:
    with pytest.raises(ValidationError, match="not lines plus shipping"):
        OrderPlaced.model_validate_json(_json(placed(total={"amount": "49.87", "currency": "EUR"})))


def test_an_order_total_in_another_currency_does_not_add_up() -> None:
    # Given a total of the right amount, in dollars for an order priced in euros
    right = placed()["total"]

    with pytest.raises(ValidationError, match="not lines plus shipping"):
        OrderPlaced.model_validate_json(_json(placed(total={**right, "currency": "USD"})))


def test_an_order_has_one_currency() -> None:
    usd_fee = {"amount": "4.90", "currency": "USD"}

    with pytest.raises(ValidationError, match="mix currencies"):
        OrderPlaced.model_validate_json(_json(placed(shipping_fee=usd_fee)))


def test_a_submission_takes_each_sku_on_one_line() -> None:
    submitted = json.loads((FIXTURE / "OrderSubmitted.v1.json").read_text())
    line = submitted["lines"][0]
    free = {**line, "unit_price": {**line["unit_price"], "amount": "0.00"}}

    with pytest.raises(ValidationError, match=f"repeated: {line['sku']}") as raised:
        OrderSubmitted.model_validate_json(_json({**submitted, "lines": [line, free]}))
    assert raised.value.errors()[0]["loc"] == ("lines",)


def test_a_submission_may_not_call_a_sku_what_invoices_call_the_fee() -> None:
    submitted = json.loads((FIXTURE / "OrderSubmitted.v1.json").read_text())
    fee_named = {**submitted["lines"][0], "sku": "Shipping"}

    with pytest.raises(ValidationError, match="the SKU 'Shipping' is reserved") as raised:
        OrderSubmitted.model_validate_json(_json({**submitted, "lines": [fee_named]}))
    assert raised.value.errors()[0]["loc"] == ("lines",)


def test_a_submission_whose_total_no_amount_can_hold_is_refused() -> None:
    # each line within the most an amount holds, their sum (and the order's total) not
    submitted = json.loads((FIXTURE / "OrderSubmitted.v1.json").read_text())
    line = submitted["lines"][0]
    dear = {**line, "quantity": 2, "unit_price": {**line["unit_price"], "amount": "999999999999"}}

    with pytest.raises(ValidationError, match=r"total [0-9.]+ is over 1000000000000"):
        OrderSubmitted.model_validate_json(_json({**submitted, "lines": [dear]}))


def test_a_submission_with_a_control_character_in_its_postal_code_is_refused() -> None:
    submitted = json.loads((FIXTURE / "OrderSubmitted.v1.json").read_text())
    address = {**submitted["shipping_address"], "postal_code": "10\x0015"}

    with pytest.raises(ValidationError, match="postal_code must not hold control characters"):
        OrderSubmitted.model_validate_json(_json({**submitted, "shipping_address": address}))


def test_a_placed_order_with_a_repeated_sku_still_parses() -> None:
    # Given an order placed before the one-line-per-SKU rule (its total adds up)
    line = {"sku": "SKU-001", "quantity": 1, "unit_price": {"amount": "5.00", "currency": "EUR"}}
    fee = placed()["shipping_fee"]
    total = {"amount": str(Decimal("10.00") + Decimal(fee["amount"])), "currency": "EUR"}

    event = OrderPlaced.model_validate_json(_json(placed(lines=[line, line], total=total)))

    assert [line.sku for line in event.lines] == ["SKU-001", "SKU-001"]
