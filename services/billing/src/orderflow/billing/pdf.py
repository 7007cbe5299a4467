"""Invoice and credit-note documents as PDF (reportlab): seller and buyer, number and dates,
lines with net, tax and gross, the tax breakdown per rate, and the totals."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from orderflow.billing.domain import Document

SELLER = ("orderflow demo GmbH", "Musterstraße 1, 10115 Berlin, DE", "VAT ID DE123456789")


def _money(amount: dict[str, str]) -> str:
    return f"{amount['amount']} {amount['currency']}"


def _percent(rate: str) -> str:
    return f"{(Decimal(rate) * 100).normalize():f} %"


def render(doc: Document) -> bytes:
    styles, body = getSampleStyleSheet(), doc.body
    title = "Invoice" if doc.kind == "invoice" else "Credit note"
    buyer, address = doc.buyer["customer"], doc.buyer["address"]
    story: list[Any] = [
        Paragraph(f"{title} {doc.number}", styles["Title"]),
        Paragraph("<br/>".join(SELLER), styles["Normal"]),
        Spacer(1, 6 * mm),
        Paragraph(
            "<br/>".join(
                [
                    f"Bill to: {buyer['name']} ({buyer['email']})",
                    address["line1"],
                    f"{address['postal_code']} {address['city']}, {address['country']}",
                ]
            ),
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(_dates(doc), styles["Normal"]),
        Spacer(1, 6 * mm),
        _table(
            [["Item", "Qty", "Tax rate", "Net", "Tax", "Gross"]]
            + [
                [
                    line["description"],
                    str(line["quantity"]),
                    _percent(line["tax_rate"]),
                    _money(line["net"]),
                    _money(line["tax"]),
                    _money(line["gross"]),
                ]
                for line in body["lines"]
            ]
        ),
        Spacer(1, 6 * mm),
        _table(
            [["Tax rate", "Net", "Tax"]]
            + [[_percent(t["rate"]), _money(t["net"]), _money(t["tax"])] for t in body["taxes"]]
        ),
        Spacer(1, 6 * mm),
        _table(
            [
                ["Total net", _money(body["net"])],
                ["Total tax", _money(body["tax"])],
                ["Total gross", _money(body["gross"])],
            ]
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"{title} {doc.number}").build(story)
    return out.getvalue()


def _dates(doc: Document) -> str:
    body = doc.body
    parts = [f"Date: {body['issued_on']}", f"Order: {doc.order_id}"]
    if doc.kind == "invoice":
        parts.append(f"Due: {body['due_on']}")
    else:
        parts.append(f"Credits invoice {body['invoice_number']}: {body['reason']}")
    return " &nbsp; ".join(parts)


def _table(rows: list[list[str]]) -> Table:
    table = Table(rows, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table
