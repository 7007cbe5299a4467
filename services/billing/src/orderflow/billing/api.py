"""Billing's API: invoices and credit notes as JSON and PDF, an order's invoices, and returns
(a credit note for some or all of an invoice's lines)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Path, Response
from pydantic import BaseModel, Field

from orderflow.billing.application import Billing
from orderflow.billing.domain import Document, IllegalTransition, NotOnTheInvoice
from orderflow.billing.pdf import render
from orderflow.runtime.http import IdempotencyKey
from orderflow.runtime.settings import Settings
from orderflow.schemas.common import LongText
from orderflow.schemas.model import Model

InvoiceNumber = Annotated[str, Path(pattern=r"^INV-\d{4}-\d{6}$")]
CreditNoteNumber = Annotated[str, Path(pattern=r"^CN-\d{4}-\d{6}$")]
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The document as PDF."}
}


class Return(Model):
    """Quantities to credit per invoice line (by its description: the SKU, or "Shipping")."""

    lines: Annotated[dict[str, Annotated[int, Field(ge=1, le=10_000)]], Field(min_length=1)]
    reason: LongText


class DocumentView(BaseModel):
    number: str
    kind: str
    order_id: UUID
    buyer: dict[str, Any]
    body: dict[str, Any]
    credited: dict[str, int]
    credit_notes: list[str]  # an invoice's credit notes
    refunded_at: str | None  # a credit note's refund, once the payment provider made it
    refund_refused: str | None  # why the provider refused a credit note's refund for good


class Problem(BaseModel):
    detail: str


def view(document: Document) -> DocumentView:
    return DocumentView(
        number=document.number,
        kind=document.kind,
        order_id=document.order_id,
        buyer=document.buyer,
        body=document.body,
        credited=document.credited,
        credit_notes=document.credit_notes,
        refunded_at=document.refunded_at,
        refund_refused=document.refund_refused,
    )


def routes(app: Billing, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["billing"])
    missing: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    def found(number: str) -> Document:
        document = app.document(number)
        if document is None:
            raise HTTPException(404, f"no document {number}")
        return document

    @router.get("/invoices/{number}.pdf", response_class=Response, responses={**PDF, **missing})
    def invoice_pdf(number: InvoiceNumber) -> Response:
        return Response(render(found(number)), media_type="application/pdf")

    @router.get("/invoices/{number}", response_model=DocumentView, responses=missing)
    def invoice(number: InvoiceNumber) -> DocumentView:
        return view(found(number))

    @router.get("/credit-notes/{number}.pdf", response_class=Response, responses={**PDF, **missing})
    def credit_note_pdf(number: CreditNoteNumber) -> Response:
        return Response(render(found(number)), media_type="application/pdf")

    @router.get("/credit-notes/{number}", response_model=DocumentView, responses=missing)
    def credit_note(number: CreditNoteNumber) -> DocumentView:
        return view(found(number))

    @router.get("/orders/{order_id}/invoices", response_model=list[DocumentView], responses=missing)
    def order_invoices(order_id: UUID) -> list[DocumentView]:
        account = app.account(order_id)
        if account is None:
            raise HTTPException(404, f"billing knows no order {order_id}")
        return [view(found(number)) for number in sorted(account.invoices.values())]

    @router.post(
        "/invoices/{number}/credit-notes",
        status_code=201,
        response_model=DocumentView,
        responses={**missing, 409: {"model": Problem}, 422: {"model": Problem}},
    )
    def credit(
        number: InvoiceNumber,
        returned: Return,
        idempotency_key: Annotated[IdempotencyKey, Header()],
    ) -> DocumentView:
        """A return: credit the given quantities of the invoice's lines, refunded; 409 beyond
        them, or for an Idempotency-Key used for another return; 422 for a line the invoice
        does not have. The same key and body always get the same credit note, and are
        refunded once."""
        found(number)
        try:
            return view(app.credit(number, returned.lines, returned.reason, idempotency_key))
        except IllegalTransition as refused:
            raise HTTPException(409, str(refused)) from None
        except NotOnTheInvoice as unknown:
            raise HTTPException(422, str(unknown)) from None

    return router
