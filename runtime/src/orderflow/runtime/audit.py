"""The system's invariants after a run of the channel simulator, checked from outside through
the public APIs only (order intake, inventory, fulfillment, billing, tracking): what the
end-to-end and chaos suites assert, and what `orderflow up --check` and `orderflow chaos`
report. The system is eventually consistent, so the checks are repeated until they hold or
the settling time is over; what is then still wrong is reported, with the first examples."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from prometheus_client.parser import text_string_to_metric_families

from orderflow.runtime.settings import Settings
from orderflow.runtime.simulator import CATALOGUE, EXPECTED, TERMINAL, ChannelSimulator, Placed
from orderflow.runtime.webclient import FRESH, ServiceRefused, get_json, get_text

SHIPPED = frozenset({"shipped", "delivered"})  # shipment states in which stock has left
ENDING_EVENT = {"completed": "OrderCompleted", "rejected": "OrderRejected"}
ENDING_EVENT["cancelled"] = "OrderCancelled"
#: The services that publish from a store of their own (each has a relay).
RELAYING = ("intake", "inventory", "fulfillment", "billing")
ANALYTICS = ("sales", "funnel", "lead-times", "reasons", "stock", "statuses", "throughput")
#: The throughput windows compared: a day up to a moment fixed before the rebuild, where the
#: default hour up to now would lose its oldest minute between the two reads.
_THROUGHPUT_MINUTES = 1440
_EXAMPLES = 5  # violations quoted per invariant
_PATIENCE_S = 30.0  # for a service that is restarting

Stock = dict[tuple[str, str], tuple[int, int]]  # (sku, warehouse) -> (on hand, reserved)


@dataclass(frozen=True)
class Endpoints:
    intake: str
    inventory: str
    fulfillment: str
    billing: str
    tracking: str

    @classmethod
    def local(cls, settings: Settings) -> Endpoints:
        host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        return cls(
            *(
                f"http://{host}:{getattr(settings, f'{name}_port')}"
                for name in ("intake", "inventory", "fulfillment", "billing", "tracking")
            )
        )


@dataclass
class OrderFacts:
    """One placed order as each service tells it."""

    placed: Placed
    order: dict[str, Any] | None  # order intake's view; None if intake has no such order
    copies: int  # orders intake holds for this channel and external id
    shipments: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, Any] | None = None
    credit_notes: list[dict[str, Any]] = field(default_factory=list)

    def shipped(self) -> list[dict[str, Any]]:
        return [s for s in self.shipments if s["state"] in SHIPPED]


@dataclass(frozen=True)
class Finding:
    invariant: str
    checked: int  # orders, or SKUs and warehouses, looked at
    violations: list[str]
    duplicates: int = 0  # effects found more than once

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class Report:
    accepted: int  # orders the channels had accepted (HTTP answer or broker ack)
    lost: int  # accepted orders not in a terminal state, or unknown to order intake
    findings: list[Finding]

    @property
    def duplicates(self) -> int:
        return sum(finding.duplicates for finding in self.findings)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and all(f.ok for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "ok": self.ok,
            "findings": [asdict(f) | {"ok": f.ok} for f in self.findings],
        }


def stock_levels(endpoints: Endpoints) -> Stock:
    """On hand and reserved of every catalogue SKU in every warehouse, as inventory says."""
    levels: Stock = {}
    for sku in CATALOGUE:
        found = get_json(f"{endpoints.inventory}/stock/{sku}", accept=(200, 404), patience=30)
        for row in (found or {}).get("warehouses", []):
            levels[sku, row["warehouse"]] = (row["on_hand"], row["reserved"])
    return levels


@dataclass
class Audit:
    simulator: ChannelSimulator
    endpoints: Endpoints
    stock_before: Stock

    def run(self, settle_s: float = 60.0, rebuild: Callable[[], None] | None = None) -> Report:
        """Check until every invariant holds or `settle_s` is over; then, given `rebuild`
        (which rebuilds the read models), check that they equal the rebuilt ones."""
        deadline = time.monotonic() + settle_s
        facts, findings = self._check()
        while not all(f.ok for f in findings) and time.monotonic() < deadline:
            time.sleep(1.0)
            facts, findings = self._check()
        if rebuild is not None:
            findings.append(self._compare_with_rebuild(facts, rebuild, settle_s))
        lost = sum(1 for f in facts if f.order is None or f.order["status"] not in TERMINAL)
        return Report(len(facts), lost, findings)

    def _check(self) -> tuple[list[OrderFacts], list[Finding]]:
        facts = self.collect()
        return facts, [
            every_order_ended_once(facts),
            stock_is_conserved(
                facts, self.stock_before, stock_levels(self.endpoints), self.simulator.received
            ),
            one_invoice_per_shipment(facts),
            no_invoice_stands_for_an_unfulfilled_order(facts),
            every_credit_note_is_refunded(facts),
            invoice_numbers_are_gap_free(facts),
            tracking_agrees_with_the_services(facts),
        ]

    def collect(self) -> list[OrderFacts]:
        listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for channel in {placed.channel for placed in self.simulator.placed}:
            for order in self.simulator.orders_of(channel):
                listed.setdefault((channel, order["external_id"]), []).append(order)
        facts = []
        for placed in list(self.simulator.placed):
            copies = listed.get((placed.channel, placed.external_id), [])
            fact = OrderFacts(placed, copies[0] if copies else None, len(copies))
            if fact.order is not None:
                self._details(fact, fact.order["order_id"])
            facts.append(fact)
        return facts

    def _details(self, fact: OrderFacts, order_id: str) -> None:
        at, key = self.endpoints, self.simulator.auth(fact.placed.channel)
        fact.shipments = _listing(f"{at.fulfillment}/orders/{order_id}/shipments")
        fact.invoices = _listing(f"{at.billing}/orders/{order_id}/invoices")
        fact.credit_notes = [
            get_json(f"{at.billing}/credit-notes/{number}", patience=_PATIENCE_S)
            for invoice in fact.invoices
            for number in invoice.get("credit_notes", [])
        ]
        fact.tracking = get_json(
            f"{at.tracking}/orders/{order_id}/tracking", key, (200, 404), _PATIENCE_S
        )

    def read_models(self, facts: list[OrderFacts], until: datetime) -> dict[str, Any]:
        """What the tracking service answers for every order and every analytics view (the
        throughput windows up to `until`)."""
        window = {"minutes": _THROUGHPUT_MINUTES, "until": until.isoformat()}
        views: dict[str, Any] = {
            f"analytics/{name}": get_json(
                f"{self.endpoints.tracking}/analytics/{name}"
                + (f"?{urlencode(window)}" if name == "throughput" else ""),
                FRESH,
                patience=_PATIENCE_S,
            )
            for name in ANALYTICS
        }
        for fact in facts:
            if fact.order is not None:
                order_id = fact.order["order_id"]
                url = f"{self.endpoints.tracking}/orders/{order_id}/tracking"
                views[order_id] = get_json(
                    url, self.simulator.auth(fact.placed.channel), (200, 404), _PATIENCE_S
                )
        return views

    def _compare_with_rebuild(
        self, facts: list[OrderFacts], rebuild: Callable[[], None], settle_s: float
    ) -> Finding:
        behind = self._wait_until_published(time.monotonic() + settle_s)
        until = datetime.now(UTC)
        built = self.read_models(facts, until)
        try:
            rebuild()
        except (OSError, RuntimeError, subprocess.SubprocessError) as failed:
            return Finding("read models equal a rebuild", len(built), [f"no rebuild: {failed}"])
        deadline = time.monotonic() + settle_s  # the tracking service rereads the live tables
        rebuilt = self.read_models(facts, until)
        while rebuilt != built and time.monotonic() < deadline:
            time.sleep(1.0)
            rebuilt = self.read_models(facts, until)
        differing = [name for name in built if rebuilt.get(name) != built[name]]
        violations = [
            f"{name}: {built[name]} before, {rebuilt.get(name)} rebuilt" for name in differing
        ]
        if violations and behind:  # then the live models were read before they caught up
            violations.append(f"read while still behind: {behind}")
        return Finding("read models equal a rebuild", len(built), violations)

    def _wait_until_published(self, deadline: float) -> str:
        """Until every relay has published what its store holds and every consumer group has
        committed all its topics hold, or the deadline; what was still behind then ("" if
        nothing). A relay comes first: an event still in a store reaches neither the live read
        models nor the rebuild's topics, and would reach the live ones during the rebuild. Each
        projection reads in a group of its own, so the analytics may still lag behind when the
        tracking already agrees with the services."""
        behind = "not asked"
        while time.monotonic() < deadline:
            behind = self._relays_behind() or self._groups_behind(deadline)
            if not behind:
                return ""
            time.sleep(0.5)
        return behind

    def _relays_behind(self) -> str:
        behind = []
        for service in RELAYING:
            url = f"{getattr(self.endpoints, service)}/metrics"
            try:
                lags = relay_lags(get_text(url))
            except (OSError, ValueError, ServiceRefused) as error:
                return f"{service}'s relay lag unknown ({error})"
            if not lags:  # set at the relay's first round: it has not looked at its store yet
                return f"{service}'s relay lag not reported yet"
            behind += [f"{service}'s {name} {lag:,}" for name, lag in lags.items() if lag]
        return ", ".join(behind)

    def _groups_behind(self, deadline: float) -> str:
        url = f"{self.endpoints.tracking}/ops/consumers"
        try:
            groups = get_json(url, FRESH, patience=max(0.0, deadline - time.monotonic()))
        except (OSError, ServiceRefused) as error:
            return f"the lag unknown ({error})"
        return ", ".join(f"{g['group']} {g['lag']:,}" for g in groups if g["lag"])


def relay_lags(metrics: str) -> dict[str, int]:
    """What each of a service's publishers (its relay `kafka`, billing's refunds worker) has
    yet to publish, from its `/metrics` text; empty while none has reported."""
    return {
        sample.labels.get("relay", "?"): round(sample.value)
        for family in text_string_to_metric_families(metrics)
        if family.name == "orderflow_relay_lag"
        for sample in family.samples
    }


def _listing(url: str) -> list[dict[str, Any]]:
    return list(get_json(url, accept=(200, 404), patience=_PATIENCE_S) or [])


def every_order_ended_once(facts: list[OrderFacts]) -> Finding:
    violations, duplicates = [], 0
    for fact in facts:
        name = f"{fact.placed.kind} order {fact.placed.external_id}"
        if fact.order is None:
            violations.append(f"{name}: unknown to order intake")
            continue
        duplicates += fact.copies - 1
        status = fact.order["status"]
        if fact.copies > 1:
            violations.append(f"{name}: accepted {fact.copies} times")
        if status not in EXPECTED[fact.placed.kind]:
            violations.append(
                f"{name}: {status}, expected {' or '.join(EXPECTED[fact.placed.kind])}"
            )
    return _finding(
        "every accepted order is in exactly one terminal state", facts, violations, duplicates
    )


def stock_is_conserved(
    facts: list[OrderFacts], before: Stock, after: Stock, received: Counter[tuple[str, str]]
) -> Finding:
    """On hand after = before + received - shipped, per SKU and warehouse; nothing stays
    reserved by an ended order; a completed order shipped exactly what it ordered."""
    shipped: Counter[tuple[str, str]] = Counter()
    violations, duplicates = [], 0
    for fact in facts:
        for shipment in fact.shipped():
            for sku, quantity in shipment["lines"].items():
                shipped[sku, shipment["warehouse"]] += quantity
        if fact.order is not None and fact.order["status"] == "completed":
            ordered = Counter({line["sku"]: line["quantity"] for line in fact.order["lines"]})
            sent: Counter[str] = Counter()
            for shipment in fact.shipped():
                sent.update(shipment["lines"])
            if sent != ordered:
                duplicates += sum((sent - ordered).values())
                name = f"order {fact.placed.external_id}"
                violations.append(f"{name}: shipped {dict(sent)}, ordered {dict(ordered)}")
    places = sorted(set(before) | set(after) | set(received) | set(shipped))
    for sku, warehouse in places:
        on_hand, reserved = before.get((sku, warehouse), (0, 0))
        now_on_hand, now_reserved = after.get((sku, warehouse), (0, 0))
        expected = on_hand + received[sku, warehouse] - shipped[sku, warehouse]
        if now_on_hand != expected:
            duplicates += now_on_hand < expected
            violations.append(
                f"{sku} in {warehouse}: {now_on_hand} on hand, expected {on_hand} + "
                f"{received[sku, warehouse]} received - {shipped[sku, warehouse]} shipped"
            )
        if now_reserved != reserved:
            violations.append(f"{sku} in {warehouse}: {now_reserved} reserved, {reserved} before")
    return Finding(
        "stock is conserved per SKU and warehouse",
        len(places),
        violations[:_EXAMPLES] + _more(violations),
        duplicates,
    )


def one_invoice_per_shipment(facts: list[OrderFacts]) -> Finding:
    """Exactly one invoice per shipped shipment and none for any other; the invoices of a
    completed order add up to its total."""
    violations, duplicates = [], 0
    for fact in facts:
        name = f"order {fact.placed.external_id}"
        shipped = {s["shipment_id"] for s in fact.shipped()}
        per_shipment = Counter(invoice["body"]["shipment_id"] for invoice in fact.invoices)
        for shipment_id in shipped | set(per_shipment):
            count = per_shipment[shipment_id]
            if count != (shipment_id in shipped):
                duplicates += max(0, count - 1)
                violations.append(f"{name}: shipment {shipment_id} has {count} invoices")
        if fact.order is not None and fact.order["status"] == "completed":
            total = fact.order["total"]
            invoiced = sum(
                (Decimal(i["body"]["gross"]["amount"]) for i in fact.invoices), Decimal(0)
            )
            currencies = {i["body"]["gross"]["currency"] for i in fact.invoices}
            if invoiced != Decimal(total["amount"]) or currencies != {total["currency"]}:
                violations.append(f"{name}: invoiced {invoiced} {currencies}, total {total}")
    return _finding(
        "one invoice per shipment, adding up to the order total", facts, violations, duplicates
    )


def no_invoice_stands_for_an_unfulfilled_order(facts: list[OrderFacts]) -> Finding:
    """Rejected orders, and cancelled ones that shipped nothing, have no invoice; a cancelled
    order's parcel that left as the cancellation was on its way is invoiced, then credited in
    full."""
    violations = []
    for fact in facts:
        status = fact.order["status"] if fact.order is not None else None
        name = f"{status} order {fact.placed.external_id}"
        unshipped = status == "rejected" or (status == "cancelled" and not fact.shipped())
        if unshipped and fact.invoices:
            numbers = [invoice["number"] for invoice in fact.invoices]
            violations.append(f"{name} has invoices {numbers}")
        elif status == "cancelled":
            violations += [
                f"{name}: {invoice['number']} not credited in full ({left})"
                for invoice in fact.invoices
                if (left := _uncredited(invoice))
            ]
    return _finding("no invoice stands for a rejected or cancelled order", facts, violations)


def every_credit_note_is_refunded(facts: list[OrderFacts]) -> Finding:
    """Each credit note of an invoice (a crossed parcel's, in the simulator's mix) has been
    refunded to the order's payment: billing's refunds worker did it once the note committed."""
    violations = [
        f"order {fact.placed.external_id}: {note['number']} not refunded"
        + (f" (refused: {note['refund_refused']})" if note.get("refund_refused") else "")
        for fact in facts
        for note in fact.credit_notes
        if note.get("refunded_at") is None
    ]
    checked = sum(len(fact.credit_notes) for fact in facts)  # notes, not orders
    return Finding(
        "every credit note is refunded", checked, violations[:_EXAMPLES] + _more(violations)
    )


def _uncredited(invoice: dict[str, Any]) -> dict[str, int]:
    """Per line of the invoice, the quantity no credit note has taken back."""
    credited = invoice.get("credited", {})
    left = {
        line["description"]: line["quantity"] - credited.get(line["description"], 0)
        for line in invoice["body"].get("lines", [])
    }
    return {description: quantity for description, quantity in left.items() if quantity > 0}


def invoice_numbers_are_gap_free(facts: list[OrderFacts]) -> Finding:
    """Within each series (INV-2026), the run's invoices take consecutive numbers, each once."""
    numbers = Counter(invoice["number"] for fact in facts for invoice in fact.invoices)
    violations = [
        f"{number} issued {count} times" for number, count in numbers.items() if count > 1
    ]
    series: dict[str, list[int]] = {}
    for number in numbers:
        prefix, _, sequence = number.rpartition("-")
        series.setdefault(prefix, []).append(int(sequence))
    for prefix, taken in series.items():
        missing = sorted(set(range(min(taken), max(taken) + 1)) - set(taken))
        violations += [f"{prefix}-{n:06d} missing" for n in missing]
    return Finding(
        "invoice numbers are gap-free",
        len(numbers),
        violations[:_EXAMPLES] + _more(violations),
        sum(numbers.values()) - len(numbers),
    )


def tracking_agrees_with_the_services(facts: list[OrderFacts]) -> Finding:
    """The tracking read model tells each order as the services do: status, shipments,
    invoices, and one timeline step per event (no step missing, none twice)."""
    violations, duplicates = [], 0
    for fact in facts:
        if fact.order is None:
            continue
        name, tracked = f"order {fact.placed.external_id}", fact.tracking
        if tracked is None:
            violations.append(f"{name}: unknown to tracking")
            continue
        told = _as_tracked(fact.order["status"], fact.shipments, fact.invoices)
        seen = _as_tracked(tracked["status"], tracked["shipments"], tracked["invoices"])
        violations += [
            f"{name}: {what} {seen[what]} in tracking, {told[what]} in the services"
            for what in told
            if seen[what] != told[what]
        ]
        steps = Counter(step["type"] for step in tracked["timeline"])
        expected = {
            "OrderPlaced": 1,
            "ShipmentCreated": len(fact.shipments),
            "Shipped": len(fact.shipped()),
            "Delivered": len(told["delivered"]),
            "ShipmentRefused": sum(1 for s in fact.shipments if s.get("problem")),
            "Invoiced": len(fact.invoices),
            ENDING_EVENT.get(fact.order["status"], "none"): 1,
        }
        for step, count in expected.items():
            if steps[step] != count:
                duplicates += max(0, steps[step] - count)
                violations.append(f"{name}: {steps[step]} {step} steps, expected {count}")
    return _finding("the tracking timeline agrees with the services", facts, violations, duplicates)


def _as_tracked(
    status: str, shipments: list[dict[str, Any]], invoices: list[dict[str, Any]]
) -> dict[str, Any]:
    """What tracking shows of an order, from either side: its status, its parcels (all, and
    those delivered, cancelled, or refused by the carrier) and its invoices."""
    return {
        "status": status,
        "shipments": sorted(s["shipment_id"] for s in shipments),
        **{
            state: sorted(s["shipment_id"] for s in shipments if s["state"] == state)
            for state in ("delivered", "cancelled", "exception")
        },
        "invoices": sorted(i["number"] for i in invoices),
    }


def _finding(
    invariant: str, facts: list[OrderFacts], violations: list[str], duplicates: int = 0
) -> Finding:
    return Finding(invariant, len(facts), violations[:_EXAMPLES] + _more(violations), duplicates)


def _more(violations: list[str]) -> list[str]:
    extra = len(violations) - _EXAMPLES
    return [f"... and {extra} more"] if extra > 0 else []
