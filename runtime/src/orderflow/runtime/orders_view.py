"""What `orderflow up` shows about the orders: the simulator's own count, and what the tracking
service's read models say (orders per status, throughput, time from placed to invoiced,
consumer lag, dead letters). Everything comes through the tracking API, as for any user."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from orderflow.runtime.audit import Report
from orderflow.runtime.chaos import ChaosMonkey
from orderflow.runtime.simulator import TERMINAL, ChannelSimulator
from orderflow.runtime.webclient import ServiceRefused, get_json

_TIMEOUT_S = 3.0


def read(url: str) -> Any:
    return get_json(url, timeout=_TIMEOUT_S)


def orders_view(tracking_url: str, simulator: ChannelSimulator | None) -> RenderableType:
    try:
        statuses = read(f"{tracking_url}/analytics/statuses")
        lead = read(f"{tracking_url}/analytics/lead-times")["placed_to_invoiced"]
        per_minute = read(f"{tracking_url}/analytics/throughput?minutes=2")
        lag = read(f"{tracking_url}/ops/consumers")
        letters = read(f"{tracking_url}/ops/dead-letters")["count"]
    except (OSError, ServiceRefused) as error:
        return f"[dim]orders: waiting for the tracking service ({error})[/dim]"
    table = Table(title="Orders (read models)", title_justify="left", show_header=False)
    if simulator is not None:
        table.add_row("placed by the simulator", f"{len(simulator.placed):,}")
    table.add_row("per status", ", ".join(f"{s} {n:,}" for s, n in sorted(statuses.items())))
    table.add_row("orders in the last minutes", _per_minute(per_minute))
    table.add_row("placed → invoiced", _seconds(lead))
    table.add_row("consumer lag", ", ".join(f"{r['group']} {r['lag']:,}" for r in lag))
    table.add_row("dead letters", f"{letters:,}")
    pages = f"tracking page {tracking_url}/   dashboard {tracking_url}/ops"
    return Group(table, pages)


def _per_minute(rows: list[dict[str, Any]]) -> str:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["minute"][11:]] = totals.get(row["minute"][11:], 0) + row["orders"]
    return ", ".join(f"{minute} UTC: {n:,}/min" for minute, n in totals.items()) or "none lately"


def _seconds(figures: dict[str, Any]) -> str:
    if not figures["count"]:
        return "no invoice yet"
    return f"p50 {figures['p50_s'] * 1000:,.0f} ms, p99 {figures['p99_s'] * 1000:,.0f} ms"


def summary(
    simulator: ChannelSimulator, statuses: Counter[str], elapsed: float, tracking_url: str
) -> RenderableType:
    """The end of `orderflow up --orders N --exit`: where each kind of order ended."""
    table = Table(title="Orders by kind and end state", title_justify="left")
    for column in ("kind", "status", "orders"):
        table.add_column(column)
    for (kind, status), count in sorted(simulator.outcomes().items()):
        table.add_row(kind, status, f"{count:,}")
    placed = len(simulator.placed)
    ended = sum(n for status, n in statuses.items() if status in TERMINAL)
    lines = [
        f"{placed:,} orders placed, {ended:,} ended in {elapsed:.1f} s "
        f"({ended / max(elapsed, 1e-9):,.1f} orders/s)",
    ]
    try:
        lead = read(f"{tracking_url}/analytics/lead-times")["placed_to_invoiced"]
        lines.append(f"placed → invoiced (every order in the read models): {_seconds(lead)}")
    except (OSError, ServiceRefused) as error:
        lines.append(f"placed → invoiced: the tracking service did not answer ({error})")
    unfinished = {s: n for s, n in statuses.items() if s not in TERMINAL and n}
    lines.append(f"not ended: {unfinished}" if unfinished else "every order ended")
    return Group(table, *lines)


def audit_table(report: Report) -> RenderableType:
    """The invariants checked after a run, each with the first examples of what broke it."""
    table = Table(title="Invariants (through the public APIs)", title_justify="left")
    for column in ("invariant", "checked", "holds"):
        table.add_column(column)
    for finding in report.findings:
        held = "yes" if finding.ok else "[red]NO[/red]: " + "; ".join(finding.violations)
        table.add_row(finding.invariant, f"{finding.checked:,}", held)
    verdict = "every invariant holds" if report.ok else "[red]an invariant is broken[/red]"
    return Group(table, verdict)


def chaos_table(report: Report, monkey: ChaosMonkey, drained_s: float) -> RenderableType:
    table = Table(title="Chaos", title_justify="left", show_header=False)
    kills = ", ".join(f"{name} {n}" for name, n in sorted(monkey.per_service().items()))
    table.add_row("orders accepted", f"{report.accepted:,}")
    table.add_row("kills (SIGKILL)", f"{len(monkey.kills)}: {kills}")
    if monkey.dropped:
        ended = ", ".join(str(n) for n in monkey.dropped)
        table.add_row("database connections dropped", f"{len(monkey.dropped)} times: {ended}")
    table.add_row("lost", f"{report.lost:,}")
    table.add_row("duplicate effects", f"{report.duplicates:,}")
    table.add_row("time to drain", f"{drained_s:.1f} s")
    exits = dict(monkey.unexpected_exits) or "none"
    table.add_row("exits not caused by a kill", str(exits))
    return table
