"""Bounded building blocks the events share: names, SKUs, addresses, lines, reasons."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from orderflow.schemas.model import Model
from orderflow.schemas.money import Money, require_same_currency

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LONG_TEXT = 1000  # characters
LongText = Annotated[str, StringConstraints(min_length=1, max_length=LONG_TEXT)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
Sku = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")]
Quantity = Annotated[int, Field(ge=1, le=10_000)]
StockLevel = Annotated[int, Field(ge=0, le=100_000_000)]


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: A moment in time: timezone-aware on input, always UTC on output.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Customer(Model):
    id: Identifier
    email: Email
    name: Text


class Address(Model):
    line1: Text
    line2: Text | None = None
    city: Text
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    region: Text | None = None
    country: Country


class OrderLine(Model):
    sku: Sku
    quantity: Quantity
    unit_price: Money


class SkuQuantity(Model):
    sku: Sku
    quantity: Quantity


class Reason(Model):
    """Why something was refused: a stable code for machines, a message for people."""

    code: Code
    message: LongText
    field: Text | None = None


def lines_total(lines: Iterable[OrderLine]) -> Money:
    lines = list(lines)
    assert lines, "an order has at least one line"
    require_same_currency(*(line.unit_price for line in lines))
    return Money(amount=lines_amount(lines), currency=lines[0].unit_price.currency)


def lines_amount(lines: Iterable[OrderLine]) -> Decimal:
    """What the lines cost, in their (one) currency. Summed as decimals, not as Money: each
    Money made is validated again, and an order's check made five of them per event decoded."""
    return sum((line.unit_price.amount * line.quantity for line in lines), Decimal(0))
