"""The audit's checks on facts as the services would tell them: each invariant notices what
breaks it, and says so; a clean run passes all of them."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import generate_latest

from orderflow.runtime.audit import (
    Audit,
    Endpoints,
    Finding,
    OrderFacts,
    Report,
    every_credit_note_is_refunded,
    every_order_ended_once,
    invoice_numbers_are_gap_free,
    no_invoice_stands_for_an_unfulfilled_order,
    one_invoice_per_shipment,
    relay_lags,
    stock_is_conserved,
    tracking_agrees_with_the_services,
)
from orderflow.runtime.metrics import RELAY_LAG
from orderflow.runtime.simulator import Placed
from orderflow.runtime.testkit import serving

pytestmark = pytest.mark.unit


def completed_order(number: int = 1) -> OrderFacts:
    """A completed order of 2 x SKU-A1 at 5.00 plus 4.90 shipping, shipped and invoiced once."""
    shipment = {
        "shipment_id": f"s-{number}",
        "warehouse": "berlin",
        "state": "delivered",
        "lines": {"SKU-A1": 2},
    }
    invoice = {
        "number": f"INV-2026-{number:06d}",
        "body": {"shipment_id": f"s-{number}", "gross": {"amount": "14.90", "currency": "EUR"}},
    }
    order = {
        "order_id": f"o-{number}",
        "status": "completed",
        "total": {"amount": "14.90", "currency": "EUR"},
        "lines": [{"sku": "SKU-A1", "quantity": 2}],
    }
    tracking = {
        "status": "completed",
        "shipments": [{"shipment_id": f"s-{number}", "state": "delivered"}],
        "invoices": [{"number": invoice["number"]}],
        "timeline": [
            {"type": kind}
            for kind in (
                "OrderPlaced",
                "ShipmentCreated",
                "Shipped",
                "Delivered",
                "Invoiced",
                "OrderCompleted",
            )
        ],
    }
    return OrderFacts(
        Placed("web", f"sim-{number}", "plain"), order, 1, [shipment], [invoice], tracking
    )


def all_checks(facts: list[OrderFacts], on_hand: int = 98) -> Report:
    before = {("SKU-A1", "berlin"): (0, 0)}
    after = {("SKU-A1", "berlin"): (on_hand, 0)}
    received = Counter({("SKU-A1", "berlin"): 100})
    findings = [
        every_order_ended_once(facts),
        stock_is_conserved(facts, before, after, received),
        one_invoice_per_shipment(facts),
        no_invoice_stands_for_an_unfulfilled_order(facts),
        every_credit_note_is_refunded(facts),
        invoice_numbers_are_gap_free(facts),
        tracking_agrees_with_the_services(facts),
    ]
    lost = sum(1 for f in facts if f.order is None or f.order["status"] != "completed")
    return Report(len(facts), lost, findings)


def broken(report: Report) -> dict[str, list[str]]:
    return {f.invariant: f.violations for f in report.findings if not f.ok}


def test_a_clean_run_passes_every_check() -> None:
    # given one completed order whose services and read model agree, and 100 - 2 units left
    # when audited
    report = all_checks([completed_order()])

    # then every invariant holds, nothing lost, nothing twice
    assert report.ok, broken(report)
    assert (report.lost, report.duplicates) == (0, 0)


def test_a_second_invoice_for_a_shipment_is_a_duplicate_effect() -> None:
    # given the order's shipment invoiced twice (a redelivered event applied again)
    facts = completed_order()
    second: dict[str, Any] = {**facts.invoices[0], "number": "INV-2026-000002"}
    facts.invoices.append(second)

    # when audited
    report = all_checks([facts])

    # then the invoice check fails and counts one duplicate effect
    assert "one invoice per shipment, adding up to the order total" in broken(report)
    assert report.duplicates >= 1
    assert not report.ok


def test_stock_taken_twice_breaks_conservation() -> None:
    # given 4 units gone from stock while 2 were shipped
    # when audited
    report = all_checks([completed_order()], on_hand=96)

    # then conservation fails with the SKU, the warehouse and the arithmetic
    [violation] = broken(report)["stock is conserved per SKU and warehouse"]
    assert "SKU-A1 in berlin: 96 on hand, expected 0 + 100 received - 2 shipped" in violation
    assert report.duplicates == 1


def test_a_gap_in_the_invoice_numbers_is_reported() -> None:
    # given invoices 1 and 3 of the series, but not 2
    facts = [completed_order(1), completed_order(3)]

    # when audited (stock: 4 units shipped in all)
    report = all_checks(facts, on_hand=96)

    # then the missing number is named
    assert broken(report) == {"invoice numbers are gap-free": ["INV-2026-000002 missing"]}


def test_an_order_unknown_to_intake_is_lost() -> None:
    # given a placed order that order intake does not know
    lost = OrderFacts(Placed("marketplace", "sim-9", "plain"), None, 0)

    # when audited
    report = all_checks([completed_order(), lost])

    # then it is lost and the first invariant says which
    assert report.lost == 1
    assert broken(report)["every accepted order is in exactly one terminal state"] == [
        "plain order sim-9: unknown to order intake"
    ]


def test_tracking_behind_or_doubled_disagrees_with_the_services() -> None:
    # given tracking that still says shipped and shows one step twice
    facts = completed_order()
    assert facts.tracking is not None
    facts.tracking["status"] = "shipped"
    facts.tracking["timeline"].append({"type": "Shipped"})

    # when audited
    report = all_checks([facts])

    # then both disagreements are named, and the doubled step counts as a duplicate
    violations = broken(report)["the tracking timeline agrees with the services"]
    assert any("status shipped in tracking, completed in the services" in v for v in violations)
    assert any("2 Shipped steps, expected 1" in v for v in violations)
    assert report.duplicates == 1


def test_a_parcel_cancelled_in_fulfillment_but_not_in_tracking_disagrees() -> None:
    # given a parcel that fulfillment cancelled and tracking still shows as created
    facts = completed_order()
    assert facts.tracking is not None
    facts.shipments[0]["state"] = "cancelled"
    facts.tracking["shipments"][0]["state"] = "created"

    # when only tracking's agreement is checked
    finding = tracking_agrees_with_the_services([facts])

    # then the cancelled parcel is named
    assert "order sim-1: cancelled [] in tracking, ['s-1'] in the services" in finding.violations


def test_a_refused_parcel_tracking_never_heard_of_disagrees() -> None:
    # given a parcel the carrier refused, which tracking shows as created, with no such step
    facts = completed_order()
    assert facts.tracking is not None
    facts.shipments[0].update(state="exception", problem="no service to postal code 00000")
    facts.tracking["shipments"][0]["state"] = "created"

    # when only tracking's agreement is checked
    finding = tracking_agrees_with_the_services([facts])

    # then both the parcel's state and the missing step are named
    assert "order sim-1: exception [] in tracking, ['s-1'] in the services" in finding.violations
    assert "order sim-1: 0 ShipmentRefused steps, expected 1" in finding.violations


def test_a_rejected_order_with_an_invoice_is_reported() -> None:
    # given a rejected order that was nevertheless invoiced
    facts = completed_order()
    assert facts.order is not None
    facts.order["status"] = "rejected"
    facts.shipments.clear()

    # when audited
    report = all_checks([facts], on_hand=100)

    # then the no-invoice invariant names it
    assert broken(report)["no invoice stands for a rejected or cancelled order"] == [
        "rejected order sim-1 has invoices ['INV-2026-000001']"
    ]


def test_a_cancelled_order_whose_parcel_went_ahead_needs_its_invoice_credited() -> None:
    # given a cancelled order whose one parcel had left as the cancellation was on its way,
    # invoiced for 2 units of SKU-A1 and shipping, of which only the units were credited
    facts = dataclasses.replace(completed_order(), placed=Placed("web", "sim-1", "late_cancel"))
    assert facts.order is not None
    assert facts.tracking is not None
    facts.order["status"] = facts.tracking["status"] = "cancelled"
    facts.tracking["timeline"][-1] = {"type": "OrderCancelled"}
    lines = [{"description": "SKU-A1", "quantity": 2}, {"description": "Shipping", "quantity": 1}]
    facts.invoices[0]["body"]["lines"] = lines
    facts.invoices[0]["credited"] = {"SKU-A1": 2}

    # when audited
    report = all_checks([facts])

    # then the invoice left standing is named, with what was not credited
    assert broken(report) == {
        "no invoice stands for a rejected or cancelled order": [
            "cancelled order sim-1: INV-2026-000001 not credited in full ({'Shipping': 1})"
        ]
    }

    # and once credited in full, the order passes
    facts.invoices[0]["credited"] = {"SKU-A1": 2, "Shipping": 1}
    assert broken(all_checks([facts])) == {}


def test_a_credit_note_not_refunded_is_reported() -> None:
    # given a completed order whose invoice was partly returned, the return's note not refunded
    facts = completed_order()
    facts.invoices[0]["credit_notes"] = ["CN-2026-000001"]
    facts.credit_notes = [{"number": "CN-2026-000001", "refunded_at": None}]

    # when audited
    report = all_checks([facts])

    # then the note is named
    assert broken(report) == {
        "every credit note is refunded": ["order sim-1: CN-2026-000001 not refunded"]
    }

    # and a refusal by the provider is quoted
    facts.credit_notes[0]["refund_refused"] = "account closed"
    assert broken(all_checks([facts]))["every credit note is refunded"] == [
        "order sim-1: CN-2026-000001 not refunded (refused: account closed)"
    ]

    # and once refunded, the order passes
    facts.credit_notes[0]["refunded_at"] = "2026-12-06T22:30:00+00:00"
    assert broken(all_checks([facts])) == {}


def compared_with_rebuild(
    metrics: Callable[[], str],
    count: Callable[[bool], int],
    groups: list[dict[str, Any]] | None = None,
    settle_s: float = 1.0,
) -> Finding:
    """The audit's comparison with a rebuild, against services (all on one stand-in) whose
    `/metrics` say `metrics()`, whose groups lag as `groups` say and whose every analytics
    view counts `count(rebuilt)`."""
    rebuilt: list[bool] = []
    api = FastAPI()

    @api.get("/metrics", response_class=PlainTextResponse)
    def metrics_text() -> str:
        return metrics()

    @api.get("/ops/consumers")
    def consumers() -> list[dict[str, Any]]:
        return groups or []

    @api.get("/analytics/{name}")
    def view(name: str) -> dict[str, int]:
        return {"count": count(bool(rebuilt))}

    with serving(api) as url:
        audit = Audit(None, Endpoints(url, url, url, url, url), {})  # type: ignore[arg-type]
        return audit._compare_with_rebuild([], lambda: rebuilt.append(True), settle_s=settle_s)


def test_throughput_is_compared_on_one_window_fixed_before_the_rebuild() -> None:
    # Given a tracking service whose throughput answer is the window it is asked for, which
    # by default ends now and so moves between two reads
    api = FastAPI()

    @api.get("/metrics", response_class=PlainTextResponse)
    def metrics_text() -> str:
        return lag_of(0)

    @api.get("/ops/consumers")
    def consumers() -> list[dict[str, Any]]:
        return []

    @api.get("/analytics/{name}")
    def view(name: str, until: str | None = None) -> dict[str, Any]:
        return {"until": until or time.time()} if name == "throughput" else {}

    # when the read models are compared with a rebuild that changes nothing
    with serving(api) as url:
        audit = Audit(None, Endpoints(url, url, url, url, url), {})  # type: ignore[arg-type]
        finding = audit._compare_with_rebuild([], lambda: None, settle_s=1.0)

    # then they agree: both reads asked for the same window
    assert finding.ok, finding.violations


def lag_of(lag: int) -> str:
    return f'orderflow_relay_lag{{relay="kafka"}} {lag}.0\n'


def one_more_once_rebuilt(rebuilt: bool) -> int:
    return 111 if rebuilt else 110


def test_a_rebuild_compared_while_a_group_lags_says_which_group_was_behind() -> None:
    # Given a tracking service whose analytics group stays 3 events behind, and whose lead
    # times count one order more once the read models are rebuilt
    group = {"group": "orderflow.projection.analytics.g1", "topics": [], "lag": 3}

    # when the audit compares the read models with a rebuild, waiting at most a second
    finding = compared_with_rebuild(lambda: lag_of(0), one_more_once_rebuilt, [group])

    # then each view differs, and the finding says the live models were read while behind
    assert (
        "analytics/lead-times: {'count': 110} before, {'count': 111} rebuilt" in finding.violations
    )
    assert finding.violations[-1] == (
        "read while still behind: orderflow.projection.analytics.g1 3"
    )


def test_a_rebuild_is_compared_once_every_relay_has_published() -> None:
    # Given services whose relays hold one event back until asked for their lag three times,
    # an event that the live read models show once published, as the rebuild does
    asked = Counter[str]()

    def metrics() -> str:
        asked["metrics"] += 1
        return lag_of(0 if asked["metrics"] > 3 else 1)

    # when the audit compares the read models with a rebuild
    finding = compared_with_rebuild(
        metrics, lambda rebuilt: 111 if rebuilt or asked["metrics"] > 3 else 110, settle_s=5.0
    )

    # then it read the live models only once the relays had published: they equal the rebuild
    assert finding.violations == []


def test_the_relay_lag_is_read_as_a_service_writes_it() -> None:
    # Given a process whose relays report a lag (other tests' relays may report theirs)
    RELAY_LAG.labels("audit-a").set(3)
    RELAY_LAG.labels("audit-b").set(4)

    # when the audit reads the process's metrics
    try:
        read = relay_lags(generate_latest().decode())
    finally:
        RELAY_LAG.remove("audit-a")
        RELAY_LAG.remove("audit-b")

    # then it sees each relay's lag
    assert (read["audit-a"], read["audit-b"]) == (3, 4)


def test_a_relay_that_has_not_reported_is_not_taken_for_caught_up() -> None:
    # Given services that answer /metrics without any relay lag yet (a relay just started)
    # when the audit compares the read models with a rebuild, waiting at most a second
    finding = compared_with_rebuild(lambda: "# nothing yet\n", one_more_once_rebuilt)

    # then the finding says the lag was not known, rather than that nothing was behind
    assert finding.violations[-1] == "read while still behind: intake's relay lag not reported yet"


def test_a_rebuild_compared_while_relays_hold_events_back_says_which() -> None:
    # Given services whose relays stay 2 events behind, and read models that count one more
    # once rebuilt
    # when the audit compares the read models with a rebuild, waiting at most a second
    finding = compared_with_rebuild(lambda: lag_of(2), one_more_once_rebuilt)

    # then the finding says which relays had not published when the live models were read
    assert finding.violations[-1] == (
        "read while still behind: intake's kafka 2, inventory's kafka 2, "
        "fulfillment's kafka 2, billing's kafka 2"
    )
