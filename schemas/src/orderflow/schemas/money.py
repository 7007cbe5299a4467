"""Money: a Decimal amount in an ISO 4217 currency, exact to the currency's minor unit.

Amounts travel as JSON strings ("19.99"), never as floats: a float cannot hold 0.10 exactly, and
one lost cent across a million invoices is a reconciliation incident. An amount more precise than
its currency allows is refused rather than rounded, so no producer's rounding is hidden.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Annotated, Any, Self

import iso4217
from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from orderflow.schemas.model import Model

MAX_AMOUNT = Decimal("1000000000000")  # 10^12 in any currency: beyond any single order
_AMOUNT_PATTERN = r"^\d{1,13}(\.\d{1,4})?$"
#: The pattern the JSON schema publishes, as JSON Schema reads it (ASCII digits): Decimal()
#: alone also takes "1e2", "1_0.00", " 1.00 ", other scripts' digits and exponents whose
#: integer is millions of digits long.
_AMOUNT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,4})?")


def _decimal_string(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str) and _AMOUNT.fullmatch(value):
        return Decimal(value)
    raise ValueError(f'must be a decimal string like "19.99", got {_shown(value)}')


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}…"
    return f"a {type(value).__name__}"  # a number's repr can be thousands of digits


#: A non-negative decimal amount; in JSON a string.
# The bounds before the validator: so they are checked by pydantic-core with the decimal itself,
# not by a Python function after it (a third of decoding an order event).
Amount = Annotated[
    Decimal,
    Field(ge=0, le=MAX_AMOUNT),
    BeforeValidator(_decimal_string),
    WithJsonSchema({"type": "string", "pattern": _AMOUNT_PATTERN, "examples": ["19.99"]}),
]


@functools.cache
def minor_unit(code: str) -> int:
    """Digits after the decimal point for `code` (2 for EUR, 0 for JPY)."""
    exponent = iso4217.Currency(code).exponent
    if exponent is None:
        raise ValueError(f"{code} is not a currency for payments")
    return int(exponent)


@functools.cache
def _step(code: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(code))


def _currency(value: Any) -> Any:
    if isinstance(value, str):
        try:
            minor_unit(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code") from None
    return value


# The constraints before the validator, as for Amount: after it, pydantic checks them in Python
# and leaves the pattern out of the JSON schema.
Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$", examples=["EUR"]),
    BeforeValidator(_currency),
]


class Money(Model):
    amount: Amount
    currency: Currency

    @model_validator(mode="after")
    def _exact_to_the_minor_unit(self) -> Self:
        exact = self.amount.quantize(_step(self.currency))
        if exact != self.amount:
            raise ValueError(
                f"{self.amount} has more decimals than {self.currency} allows "
                f"({minor_unit(self.currency)})"
            )
        object.__setattr__(self, "amount", exact)  # "19.9" is stored and sent as "19.90"
        return self

    @classmethod
    def of(cls, amount: str | Decimal, currency: str) -> Money:
        return cls(amount=Decimal(amount), currency=currency)

    def __add__(self, other: Money) -> Money:
        require_same_currency(self, other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)


def require_same_currency(*amounts: Money) -> None:
    currencies = {money.currency for money in amounts}
    if len(currencies) > 1:
        raise ValueError(f"amounts mix currencies {sorted(currencies)}")
