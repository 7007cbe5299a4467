"""Order-intake's events, and the submission sales channels publish."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Literal, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import Field, field_validator, model_validator

from orderflow.schemas.common import (
    Address,
    Code,
    Customer,
    Identifier,
    LongText,
    OrderLine,
    Reason,
    lines_amount,
)
from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.model import Model
from orderflow.schemas.money import MAX_AMOUNT, Money, require_same_currency

Lines = Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
_Priced = TypeVar("_Priced", bound="OrderBody")


class PaymentDetails(Model):
    token: Identifier


def one_line_per_sku(lines: list[OrderLine]) -> list[OrderLine]:
    """A new order takes each SKU on one line: invoices and stock count per SKU, so two lines
    of one SKU at different prices could not be billed as ordered."""
    repeated = sorted(
        sku for sku, count in Counter(line.sku for line in lines).items() if count > 1
    )
    if repeated:
        raise ValueError(
            f"each SKU takes one line with its quantity; repeated: {', '.join(repeated)}"
        )
    return lines


#: What invoices and credit notes call the shipping fee's line, where every other line is called
#: by its SKU (a credit note names the lines it credits so): no SKU may take it.
SHIPPING_LINE = "Shipping"


def no_sku_named_like_the_fee(lines: list[OrderLine]) -> list[OrderLine]:
    """A SKU called "Shipping" would share the fee's line name on its invoice, and crediting
    one would credit the other (a cancelled order's credit note fell short by its price)."""
    if any(line.sku == SHIPPING_LINE for line in lines):
        raise ValueError(
            f"the SKU {SHIPPING_LINE!r} is reserved: invoices call the shipping fee's line so"
        )
    return lines


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain_postal_code(address: Address) -> Address:
    """A new order's postal code has no control characters: the tracking page compares it with
    what a customer types, and PostgreSQL's text refuses a NUL, which kept the order out of the
    read models there (a rule on submission: the published schema is left as it was)."""
    if _CONTROL.search(address.postal_code):
        raise ValueError("postal_code must not hold control characters")
    return address


def payable_total(order: _Priced) -> _Priced:
    """A new order's lines and shipping add up to at most `MAX_AMOUNT`, as every amount does:
    each line may be within it and the sum not, and the placed order's total could not be
    written (it was a 500, failing the orders saved alongside)."""
    total = lines_amount(order.lines) + order.shipping_fee.amount
    if total > MAX_AMOUNT:
        raise ValueError(f"the order's total {total} is over {MAX_AMOUNT}, the most an order takes")
    return order


class OrderBody(Model):
    """What a channel orders, as it says it (order intake's HTTP body adds only the payment)."""

    external_id: Identifier
    customer: Customer
    shipping_address: Address
    lines: Lines
    shipping_fee: Money

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        require_same_currency(self.shipping_fee, *(line.unit_price for line in self.lines))
        return self


class OrderContent(OrderBody):
    """What a channel orders, and which channel: the same fields on submission and once placed."""

    channel: Identifier


class NewOrder(OrderBody):
    """An order as a channel submits it, with its payment: order intake's HTTP body, and the
    channel topic's `OrderSubmitted` but for its channel and envelope. The rules below hold on
    submission only: orders placed before them keep parsing."""

    payment: PaymentDetails

    _one_line_per_sku = field_validator("lines")(one_line_per_sku)
    _no_sku_named_like_the_fee = field_validator("lines")(no_sku_named_like_the_fee)
    _plain_postal_code = field_validator("shipping_address")(plain_postal_code)
    _payable_total = model_validator(mode="after")(payable_total)


class OrderSubmitted(NewOrder, OrderContent, Message):
    """A sales channel's order, as published on the channel topic (the HTTP body plus `channel`).

    The same (channel, external_id) places one order however often it arrives."""

    type: Literal["OrderSubmitted"] = "OrderSubmitted"
    version: Literal[1] = 1
    correlation_id: UUID = Field(default_factory=uuid4)
    payment: PaymentDetails  # after the envelope's fields, where the published schema has it


class _OrderPlacedFields(OrderContent, IntegrationEvent):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    order_id: UUID
    payment_token: Identifier


class OrderPlacedV1(_OrderPlacedFields):
    """Released first; kept so stored and replayed v1 events still parse (upcast to v2)."""

    version: Literal[1] = 1


class OrderPlaced(_OrderPlacedFields):
    """v2 adds `total` (lines plus shipping, tax included), so consumers stop recomputing it."""

    version: Literal[2] = 2
    total: Money

    @model_validator(mode="after")
    def _total_adds_up(self) -> Self:
        expected = lines_amount(self.lines) + self.shipping_fee.amount
        if self.total.amount != expected or self.total.currency != self.shipping_fee.currency:
            raise ValueError(
                f"total {self.total.amount} {self.total.currency} is not lines plus shipping "
                f"{expected} {self.shipping_fee.currency}"
            )
        return self


class OrderRejected(IntegrationEvent):
    type: Literal["OrderRejected"] = "OrderRejected"
    version: Literal[1] = 1
    order_id: UUID
    channel: Identifier
    external_id: Identifier
    reasons: Annotated[list[Reason], Field(min_length=1, max_length=50)]


class OrderCancelled(IntegrationEvent):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    version: Literal[1] = 1
    order_id: UUID
    reason: Code  # customer_request, payment_declined, reservation_expired, ...
    detail: LongText | None = None


class OrderCompleted(IntegrationEvent):
    type: Literal["OrderCompleted"] = "OrderCompleted"
    version: Literal[1] = 1
    order_id: UUID
