"""Money is exact: Decimal amounts, ISO 4217 currencies, never a float, never a hidden rounding."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orderflow.schemas.money import Money

pytestmark = pytest.mark.unit


def test_an_amount_is_stored_at_the_currency_minor_unit() -> None:
    assert Money.model_validate_json('{"amount": "19.9", "currency": "EUR"}').amount == Decimal(
        "19.90"
    )
    assert Money.of("19.9", "EUR").model_dump(mode="json")["amount"] == "19.90"
    assert Money.of("1500", "JPY").model_dump(mode="json")["amount"] == "1500"


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ('{"amount": 19.99, "currency": "EUR"}', "decimal string"),
        ('{"amount": 20, "currency": "EUR"}', "decimal string"),
        ('{"amount": "19.999", "currency": "EUR"}', "more decimals than EUR"),
        ('{"amount": "1.5", "currency": "JPY"}', "more decimals than JPY"),
        ('{"amount": "NaN", "currency": "EUR"}', "decimal string"),
        ('{"amount": "-1.00", "currency": "EUR"}', "decimal string"),
        ('{"amount": "sNaN", "currency": "EUR"}', "decimal string"),
        ('{"amount": "1e2", "currency": "EUR"}', "decimal string"),
        ('{"amount": "1e999999999", "currency": "EUR"}', "decimal string"),
        ('{"amount": "0e999", "currency": "EUR"}', "decimal string"),
        ('{"amount": "1_0.00", "currency": "EUR"}', "decimal string"),
        ('{"amount": " 1.00 ", "currency": "EUR"}', "decimal string"),
        ('{"amount": "\u0661\u0669.\u0669\u0669", "currency": "EUR"}', "decimal string"),
        ('{"amount": "1.00", "currency": "EURO"}', "not an ISO 4217"),
        ('{"amount": "1.00", "currency": "XYZ"}', "not an ISO 4217"),
        ('{"amount": "1.00", "currency": "XAU"}', "not an ISO 4217"),
        ('{"amount": "1.00", "currency": "EUR", "note": "x"}', "Extra inputs"),
    ],
)
def test_inexact_or_unknown_money_is_refused(payload: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Money.model_validate_json(payload)


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(ValueError, match="mix currencies"):
        _ = Money.of("1.00", "EUR") + Money.of("1.00", "USD")


@given(cents=st.integers(min_value=0, max_value=10**14), currency=st.sampled_from(["EUR", "USD"]))
def test_any_cent_amount_survives_json_exactly(cents: int, currency: str) -> None:
    money = Money(amount=Decimal(cents).scaleb(-2), currency=currency)

    assert Money.model_validate_json(money.model_dump_json()) == money


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=50))
def test_sums_are_exact_to_the_cent(cents: list[int]) -> None:
    total = Money.of("0", "EUR")
    for amount in cents:
        total = total + Money(amount=Decimal(amount).scaleb(-2), currency="EUR")

    assert total.amount == Decimal(sum(cents)).scaleb(-2)
