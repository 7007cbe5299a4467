"""Invoice documents from order prices, which are gross (tax included), as in European retail.

Rounding rule, the one rule: a line's gross is exact (unit price * quantity); its tax is
gross * rate / (1 + rate), rounded half up to the currency's minor unit; its net is gross - tax.
So net + tax = gross on every line, and a document's totals are the sums of its lines. Since
each shipment's lines are the shipped quantities at their unit prices and the shipping fee goes
on the first invoice, the invoices of a fully shipped order add up to its total to the cent.
Credit notes apply the rule to the running total credited (`credited_part`)."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from orderflow.schemas.money import minor_unit
from orderflow.schemas.orders import SHIPPING_LINE


@dataclass(frozen=True)
class TaxTable:
    rates: Mapping[str, Mapping[str, Decimal]]
    classes: Mapping[str, str]

    def tax_class(self, sku: str) -> str:
        return next((c for prefix, c in self.classes.items() if sku.startswith(prefix)), "standard")

    def rate(self, country: str, tax_class: str) -> Decimal:
        return self.rates.get(country, {}).get(tax_class, Decimal(0))


@cache
def tax_table() -> TaxTable:
    data = tomllib.loads(files("orderflow.billing").joinpath("tax_rates.toml").read_text())
    rates = {
        country: {cls: Decimal(rate) for cls, rate in by_class.items()}
        for country, by_class in data["rates"].items()
    }
    return TaxTable(rates, dict(data.get("classes", {})))


def line(
    description: str, sku: str | None, quantity: int, gross: Decimal, rate: Decimal, currency: str
) -> dict[str, Any]:
    tax = tax_in(gross, rate, currency)
    return _line(description, sku, quantity, gross, tax, rate, currency)


def tax_in(gross: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The rounding rule: the tax a gross amount includes, half up to the minor unit."""
    step = Decimal(1).scaleb(-minor_unit(currency))
    return (gross * rate / (1 + rate)).quantize(step, rounding=ROUND_HALF_UP)


def credited_part(invoiced: Mapping[str, Any], before: int, quantity: int) -> dict[str, Any]:
    """A credit note's line: `quantity` more units of an invoice line of which `before` were
    credited already. Its tax is the rounding rule applied to everything credited so far, less
    what the earlier parts took, so a line credited piece by piece adds up to the invoice line
    to the cent, tax included (rounding each part on its own drifts up to a cent per part)."""
    unit = Decimal(invoiced["gross"]["amount"]) / invoiced["quantity"]  # exact: price * qty
    rate, currency = Decimal(invoiced["tax_rate"]), invoiced["gross"]["currency"]

    def tax_of_first(units: int) -> Decimal:
        if units == invoiced["quantity"]:
            return Decimal(invoiced["tax"]["amount"])
        return tax_in(unit * units, rate, currency)

    tax = tax_of_first(before + quantity) - tax_of_first(before)
    return _line(
        invoiced["description"], invoiced["sku"], quantity, unit * quantity, tax, rate, currency
    )


def _line(
    description: str,
    sku: str | None,
    quantity: int,
    gross: Decimal,
    tax: Decimal,
    rate: Decimal,
    currency: str,
) -> dict[str, Any]:
    step = Decimal(1).scaleb(-minor_unit(currency))

    def money(amount: Decimal) -> dict[str, str]:
        return {"amount": str(amount.quantize(step)), "currency": currency}

    return {
        "description": description,
        "sku": sku,
        "quantity": quantity,
        "tax_rate": str(rate),
        "net": money(gross - tax),
        "tax": money(tax),
        "gross": money(gross),
    }


def document(lines: list[dict[str, Any]], currency: str) -> dict[str, Any]:
    """Lines with their totals and the tax breakdown per rate."""
    by_rate: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for entry in lines:
        by_rate[entry["tax_rate"]][0] += Decimal(entry["net"]["amount"])
        by_rate[entry["tax_rate"]][1] += Decimal(entry["tax"]["amount"])

    def money(amount: Decimal) -> dict[str, str]:
        return {"amount": str(amount), "currency": currency}

    net = sum((Decimal(e["net"]["amount"]) for e in lines), Decimal(0))
    tax = sum((Decimal(e["tax"]["amount"]) for e in lines), Decimal(0))
    return {
        "lines": lines,
        "taxes": [
            {"rate": rate, "net": money(n), "tax": money(t)}
            for rate, (n, t) in sorted(by_rate.items())
        ],
        "net": money(net),
        "tax": money(tax),
        "gross": money(net + tax),
    }


def shipment_lines(
    order: Mapping[str, Any], shipped: Iterable[tuple[str, int]], with_shipping: bool
) -> list[dict[str, Any]]:
    """Invoice lines of one shipment: each shipped SKU at its unit price, plus the shipping fee
    on the first invoice of the order."""
    table, country = tax_table(), order["shipping_address"]["country"]
    currency = order["shipping_fee"]["currency"]
    prices: dict[str, Decimal] = {}
    for ordered in order["lines"]:
        prices.setdefault(ordered["sku"], Decimal(ordered["unit_price"]["amount"]))
    lines = [
        line(
            sku,
            sku,
            quantity,
            prices[sku] * quantity,
            table.rate(country, table.tax_class(sku)),
            currency,
        )
        for sku, quantity in shipped
    ]
    fee = Decimal(order["shipping_fee"]["amount"])
    if with_shipping and fee > 0:
        lines.append(line(SHIPPING_LINE, None, 1, fee, table.rate(country, "standard"), currency))
    return lines
