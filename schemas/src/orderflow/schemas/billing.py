"""Billing's events. Invoice documents carry net, tax and gross per line and per tax rate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema, model_validator

from orderflow.schemas.common import LongText, Quantity, Sku, Text
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.model import Model
from orderflow.schemas.money import Money, _decimal_string, require_same_currency

#: A tax rate as a fraction ("0.19" for 19 %); in JSON a string. Bounds before the validator,
#: so pydantic-core checks them (see Amount).
TaxRate = Annotated[
    Decimal,
    Field(ge=0, le=1),
    BeforeValidator(_decimal_string),
    WithJsonSchema({"type": "string", "pattern": r"^(0(\.\d{1,4})?|1(\.0{1,4})?)$"}),
]
InvoiceNumber = Annotated[str, StringConstraints(pattern=r"^INV-\d{4}-\d{6}$", max_length=15)]
CreditNoteNumber = Annotated[str, StringConstraints(pattern=r"^CN-\d{4}-\d{6}$", max_length=14)]


class DocumentLine(Model):
    description: Text
    sku: Sku | None = None  # None for the shipping fee
    quantity: Quantity
    tax_rate: TaxRate
    net: Money
    tax: Money
    gross: Money


class TaxAmount(Model):
    rate: TaxRate
    net: Money
    tax: Money


class _Document(IntegrationEvent):
    order_id: UUID
    lines: Annotated[list[DocumentLine], Field(min_length=1, max_length=101)]
    taxes: Annotated[list[TaxAmount], Field(min_length=1, max_length=20)]
    net: Money
    tax: Money
    gross: Money
    issued_on: date

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        amounts = [self.net, self.tax, self.gross]
        amounts += [money for line in self.lines for money in (line.net, line.tax, line.gross)]
        require_same_currency(*amounts)
        return self


class PaymentAuthorized(IntegrationEvent):
    type: Literal["PaymentAuthorized"] = "PaymentAuthorized"
    version: Literal[1] = 1
    order_id: UUID
    payment_id: UUID
    amount: Money


class PaymentDeclined(IntegrationEvent):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    version: Literal[1] = 1
    order_id: UUID
    payment_id: UUID
    amount: Money
    reason: LongText


class Invoiced(_Document):
    """One invoice per shipment; the payment for it was captured."""

    type: Literal["Invoiced"] = "Invoiced"
    version: Literal[1] = 1
    invoice_id: UUID
    invoice_number: InvoiceNumber
    shipment_id: UUID
    due_on: date


class CreditNoteIssued(_Document):
    type: Literal["CreditNoteIssued"] = "CreditNoteIssued"
    version: Literal[1] = 1
    credit_note_id: UUID
    credit_note_number: CreditNoteNumber
    invoice_number: InvoiceNumber
    reason: LongText
