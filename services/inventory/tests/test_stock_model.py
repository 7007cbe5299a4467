"""The stock model under random receipts, reservations, releases, payments, shipments,
expiries and adjustments (hypothesis stateful testing), holding at every step:

- available is never negative, except by declared backorders;
- on hand + shipped = initial + received + adjustments (initial is 0 here);
- reserved (with backordered) = the sum of what the open reservations still hold;
- the reserved and backordered totals kept per warehouse are the sums of the holds, and a
  snapshot taken before they were kept gives them too;
- every SKU's state is what replaying its events gives."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Snapshot
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orderflow.inventory.allocation import allocate
from orderflow.inventory.domain import (
    IllegalTransition,
    Reservation,
    SkuStock,
    reservation_id,
    sku_id,
)
from orderflow.runtime.settings import Warehouse

pytestmark = pytest.mark.unit

WAREHOUSES = (
    Warehouse(id="berlin", name="Berlin", priority=1, country="DE"),
    Warehouse(id="paris", name="Paris", priority=2, country="FR"),
)
SKUS = ("SKU-A", "SKU-B", "SKU-C")  # SKU-C allows backorders
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
skus = st.sampled_from(SKUS)
warehouses = st.sampled_from([w.id for w in WAREHOUSES])


def pick(data: st.DataObject, items: list[Any]) -> Any:
    """One of `items` (aggregates are not hashable, so not `sampled_from`)."""
    return items[data.draw(st.integers(0, len(items) - 1))]


class StockModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stocks = {
            sku: SkuStock(id=sku_id(sku), sku=sku, threshold=3, allow_backorder=sku == "SKU-C")
            for sku in SKUS
        }
        self.history: dict[str, list[Any]] = {sku: [] for sku in SKUS}
        self.reservations: dict[UUID, Reservation] = {}
        self.received: Counter[tuple[str, str]] = Counter()
        self.adjusted: Counter[tuple[str, str]] = Counter()
        self.shipped: Counter[tuple[str, str]] = Counter()
        self.clock = NOW

    def _keep_events(self) -> None:
        for sku, stock in self.stocks.items():
            self.history[sku].extend(stock.collect_events())

    def _open(self) -> list[Reservation]:
        return [r for r in self.reservations.values() if r.state in ("held", "authorized")]

    @rule(sku=skus, warehouse=warehouses, quantity=st.integers(1, 20))
    def receive(self, sku: str, warehouse: str, quantity: int) -> None:
        if self.stocks[sku].receive(warehouse, quantity, reference=None):
            self.received[sku, warehouse] += quantity
        self._keep_events()

    @rule(lines=st.lists(st.tuples(skus, st.integers(1, 8)), min_size=1, max_size=3))
    def place(self, lines: list[tuple[str, int]]) -> None:
        order_id = uuid4()
        takes, short = allocate(lines, self.stocks, WAREHOUSES)
        held: Counter[tuple[str, str, bool]] = Counter()
        for take in takes:
            held[take.sku, take.warehouse, take.backordered] += take.quantity
        for sku, warehouse in {(s, w) for s, w, _ in held}:
            self.stocks[sku].hold(
                order_id,
                warehouse,
                held[sku, warehouse, False],
                held[sku, warehouse, True],
                self.clock.isoformat(),
            )
        self.clock += timedelta(seconds=1)
        self.reservations[order_id] = Reservation(
            id=reservation_id(order_id),
            order_id=order_id,
            allocations=[vars(t) for t in takes],
            short_lines=[vars(s) for s in short],
            expires_at=self.clock + timedelta(minutes=15),
            correlation_id=order_id,
            caused_by=order_id,
        )
        assert bool(takes) != bool(short), "all of the order or none of it"
        self._keep_events()

    def _release(self, reservation: Reservation) -> None:
        for sku in {a["sku"] for a in reservation.allocations}:
            self.stocks[sku].release(reservation.order_id)

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        reservation = pick(data, self._open())
        try:
            released = reservation.release("cancelled", None)
        except IllegalTransition:
            return  # it has begun shipping
        if released:
            self._release(reservation)
        self._keep_events()

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def authorize(self, data: st.DataObject) -> None:
        reservation = pick(data, self._open())
        if reservation.state == "held":
            reservation.authorize(uuid4())

    @precondition(lambda self: self._open())
    @rule(data=st.data(), later=st.integers(0, 30))
    def expire(self, data: st.DataObject, later: int) -> None:
        reservation = pick(data, self._open())
        authorised = reservation.state == "authorized"
        if reservation.expire(self.clock + timedelta(minutes=later)):
            assert not authorised, "an authorised payment's reservation never expires"
            self._release(reservation)
        self._keep_events()

    @precondition(lambda self: any(self._shippable()))
    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        reservation, sku, warehouse, most = pick(data, list(self._shippable()))
        quantity = data.draw(st.integers(1, most))
        self.stocks[sku].ship(reservation.order_id, warehouse, quantity)
        reservation.ship(warehouse, sku, quantity, uuid4())
        self.shipped[sku, warehouse] += quantity
        self._keep_events()

    def _shippable(self) -> Any:
        for reservation in self._open():
            for sku, stock in self.stocks.items():
                for warehouse, (reserved, _, _) in stock.holds.get(
                    str(reservation.order_id), {}
                ).items():
                    if reserved > 0:
                        yield reservation, sku, warehouse, reserved

    @rule(sku=skus, warehouse=warehouses, delta=st.integers(-15, 15).filter(bool))
    def adjust(self, sku: str, warehouse: str, delta: int) -> None:
        try:
            self.stocks[sku].adjust(warehouse, delta, "cycle_count")
        except IllegalTransition:
            return
        self.adjusted[sku, warehouse] += delta
        self._keep_events()

    @invariant()
    def available_is_negative_only_by_backorders(self) -> None:
        for stock in self.stocks.values():
            for warehouse in stock.warehouses():
                assert stock.available(warehouse) + stock.backordered(warehouse) >= 0
                assert stock.on_hand.get(warehouse, 0) >= stock.reserved(warehouse)

    @invariant()
    def stock_is_conserved(self) -> None:
        for sku, stock in self.stocks.items():
            for w in WAREHOUSES:
                on_hand = stock.on_hand.get(w.id, 0)
                expected = self.received[sku, w.id] + self.adjusted[sku, w.id]
                assert on_hand + self.shipped[sku, w.id] == expected

    @invariant()
    def reserved_is_what_open_reservations_hold(self) -> None:
        still_held: Counter[tuple[str, str]] = Counter()
        for reservation in self._open():
            for allocation in reservation.allocations:
                still_held[allocation["sku"], allocation["warehouse"]] += allocation["quantity"]
            for key, quantity in reservation.shipped.items():
                warehouse, sku = key.split("/")
                still_held[sku, warehouse] -= quantity
        for sku, stock in self.stocks.items():
            for w in WAREHOUSES:
                held = stock.reserved(w.id) + stock.backordered(w.id)
                assert held == still_held[sku, w.id], (sku, w.id)

    @invariant()
    def replaying_the_events_gives_the_same_stock(self) -> None:
        for sku, stock in self.stocks.items():
            replayed: Any = None
            for domain_event in self.history[sku]:
                replayed = domain_event.mutate(replayed)
            if replayed is not None:
                assert (replayed.on_hand, replayed.holds) == (stock.on_hand, stock.holds)
                assert replayed.totals == stock.totals

    @invariant()
    def the_kept_totals_are_the_sums_of_the_holds(self) -> None:
        for stock in self.stocks.values():
            for w in WAREHOUSES:
                holds = [held[w.id] for held in stock.holds.values() if w.id in held]
                assert stock.reserved(w.id) == sum(held[0] for held in holds)
                assert stock.backordered(w.id) == sum(held[1] for held in holds)

    @invariant()
    def a_snapshot_from_before_the_totals_gives_the_same_totals(self) -> None:
        for stock in self.stocks.values():
            snapshot = Snapshot.take(stock)
            older = {
                k: v for k, v in snapshot.state.items() if k not in ("totals", "class_version")
            }
            restored = replace(snapshot, state=older).mutate(None)
            assert isinstance(restored, SkuStock)
            for w in WAREHOUSES:
                assert restored.reserved(w.id) == stock.reserved(w.id)
                assert restored.backordered(w.id) == stock.backordered(w.id)


StockModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_stock_model = StockModel.TestCase
