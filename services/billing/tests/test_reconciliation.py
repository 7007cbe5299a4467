"""For random orders, random partial shipments and random returns, the documents reconcile:
every line's net + tax = gross, every document's totals are its lines' sums, the invoices of a
fully shipped order add up to its total to the cent, and credit notes never exceed what was
invoiced (a full credit, in one note or in parts, mirrors its invoice exactly)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.billing.invoicing import credited_part, document, line, shipment_lines

pytestmark = pytest.mark.unit

SKUS = ["SKU-1", "SKU-2", "BOOK-1", "FOOD-1", "SKU-3"]


def amount(text: str) -> Decimal:
    return Decimal(text)


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD"]))  # 2, 0 and 3 decimals
    exponent = {"EUR": 2, "JPY": 0, "KWD": 3}[currency]
    prices = st.integers(0, 10**7).map(lambda n: str(Decimal(n).scaleb(-exponent)))
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=5, unique=True))
    lines = [
        {
            "sku": sku,
            "quantity": draw(st.integers(1, 50)),
            "unit_price": {"amount": draw(prices), "currency": currency},
        }
        for sku in skus
    ]
    fee = draw(prices)
    total = sum((amount(o["unit_price"]["amount"]) * o["quantity"] for o in lines), amount(fee))
    return {
        "lines": lines,
        "shipping_fee": {"amount": fee, "currency": currency},
        "shipping_address": {"country": draw(st.sampled_from(["DE", "FR", "US", "AT"]))},
        "total": {"amount": str(total), "currency": currency},
    }


@st.composite
def shipments(draw: st.DrawFn, order: dict[str, Any]) -> list[list[tuple[str, int]]]:
    """The order's quantities split over 1-4 shipments at random."""
    count = draw(st.integers(1, 4))
    split: list[list[tuple[str, int]]] = [[] for _ in range(count)]
    for ordered in order["lines"]:
        left = ordered["quantity"]
        for index in range(count):
            take = left if index == count - 1 else draw(st.integers(0, left))
            if take:
                split[index].append((ordered["sku"], take))
            left -= take
    return [shipment for shipment in split if shipment]


def check_document(doc: dict[str, Any]) -> None:
    for entry in doc["lines"]:
        assert amount(entry["net"]["amount"]) + amount(entry["tax"]["amount"]) == amount(
            entry["gross"]["amount"]
        )
    for total in ("net", "tax", "gross"):
        assert amount(doc[total]["amount"]) == sum(amount(e[total]["amount"]) for e in doc["lines"])
    assert sum(amount(t["tax"]["amount"]) for t in doc["taxes"]) == amount(doc["tax"]["amount"])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_invoices_and_credit_notes_reconcile_with_the_order_total(data: st.DataObject) -> None:
    order = data.draw(orders())
    currency = order["total"]["currency"]
    invoices = []
    for number, shipped in enumerate(data.draw(shipments(order))):
        invoices.append(
            document(shipment_lines(order, shipped, with_shipping=number == 0), currency)
        )

    for invoice in invoices:
        check_document(invoice)
    invoiced = sum(amount(invoice["gross"]["amount"]) for invoice in invoices)
    assert invoiced == amount(order["total"]["amount"]), "fully shipped: to the cent"

    invoice = data.draw(st.sampled_from(invoices))
    returned = [(entry, data.draw(st.integers(0, entry["quantity"]))) for entry in invoice["lines"]]
    credit_lines = [credited_part(entry, 0, quantity) for entry, quantity in returned if quantity]
    if credit_lines:
        credit = document(credit_lines, currency)
        check_document(credit)
        assert amount(credit["gross"]["amount"]) <= amount(invoice["gross"]["amount"])
        if all(quantity == entry["quantity"] for entry, quantity in returned):
            assert credit["gross"] == invoice["gross"]
            assert credit["taxes"] == invoice["taxes"]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_line_credited_piece_by_piece_adds_up_to_the_invoiced_line(data: st.DataObject) -> None:
    # given an invoice line
    order = data.draw(orders())
    ordered = order["lines"][0]
    invoiced = shipment_lines(order, [(ordered["sku"], ordered["quantity"])], False)[0]

    # when all of it comes back in parts of random sizes, a credit note each
    parts, before = [], 0
    while before < invoiced["quantity"]:
        quantity = data.draw(st.integers(1, invoiced["quantity"] - before))
        parts.append(credited_part(invoiced, before, quantity))
        before += quantity

    # then every part is a sound line and together they are the invoiced line, to the cent
    check_document(document(parts, order["total"]["currency"]))
    for total in ("net", "tax", "gross"):
        assert all(amount(part[total]["amount"]) >= 0 for part in parts), total
        credited = sum(amount(part[total]["amount"]) for part in parts)
        assert credited == amount(invoiced[total]["amount"]), total


def test_the_rounding_rule_on_a_known_line() -> None:
    # 19.99 gross at 19 %: tax = 19.99 * 0.19 / 1.19 = 3.1917... -> 3.19 (half up); net 16.80
    entry = line("SKU-1", "SKU-1", 1, Decimal("19.99"), Decimal("0.19"), "EUR")
    assert (entry["net"]["amount"], entry["tax"]["amount"]) == ("16.80", "3.19")
