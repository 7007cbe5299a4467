"""Where an order's units come from: one warehouse that can fill the whole order if there is
one (fewest shipments), else each line split over the warehouses by priority; a SKU that
allows backorders takes what is missing against incoming stock in its first warehouse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from orderflow.inventory.domain import SkuStock
from orderflow.runtime.settings import Warehouse


@dataclass(frozen=True)
class Take:
    warehouse: str
    sku: str
    quantity: int
    backordered: bool = False


@dataclass(frozen=True)
class Short:
    sku: str
    requested: int
    available: int


def allocate(
    lines: Iterable[tuple[str, int]],
    stocks: Mapping[str, SkuStock | None],
    warehouses: Sequence[Warehouse],
) -> tuple[list[Take], list[Short]]:
    """All of the order, or the lines that cannot be had: never part of it."""
    wanted: Counter[str] = Counter()
    for sku, quantity in lines:
        wanted[sku] += quantity
    ranked = [w.id for w in sorted(warehouses, key=lambda w: (w.priority, w.id))]

    def free(sku: str, warehouse: str) -> int:
        stock = stocks.get(sku)
        return stock.free(warehouse) if stock else 0

    for warehouse in ranked:
        if all(free(sku, warehouse) >= quantity for sku, quantity in wanted.items()):
            return [Take(warehouse, sku, quantity) for sku, quantity in wanted.items()], []
    takes, short = [], []
    for sku, quantity in wanted.items():
        line, missing = _split(sku, quantity, ranked, free)
        stock = stocks.get(sku)
        if missing and stock is not None and stock.allow_backorder:
            line.append(Take(ranked[0], sku, missing, backordered=True))
        elif missing:
            short.append(Short(sku, quantity, quantity - missing))
        takes.extend(line)
    return (takes, []) if not short else ([], short)


def _split(
    sku: str, quantity: int, ranked: list[str], free: Callable[[str, str], int]
) -> tuple[list[Take], int]:
    takes, left = [], quantity
    for warehouse in ranked:
        take = min(left, free(sku, warehouse))
        if take > 0:
            takes.append(Take(warehouse, sku, take))
            left -= take
    return takes, left
