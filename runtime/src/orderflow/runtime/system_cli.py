"""The whole system from one command: `orderflow up` (the local stack, the channel simulator
and the live view; with `--orders N --exit --check`, the end-to-end suite's run) and
`orderflow chaos` (the same under SIGKILLs, then the invariants)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from confluent_kafka import KafkaException
from rich.console import Console, Group
from rich.live import Live

from orderflow.runtime import store
from orderflow.runtime.audit import Audit, Endpoints, Report, stock_levels
from orderflow.runtime.chaos import ChaosMonkey
from orderflow.runtime.commands import settings_or_exit, stop_on_signals, stopped_cleanly
from orderflow.runtime.console import stack_view
from orderflow.runtime.fleet import runnable_services
from orderflow.runtime.orders_view import audit_table, chaos_table, orders_view, summary
from orderflow.runtime.processes import cpu_seconds
from orderflow.runtime.simulator import TERMINAL, ChannelSimulator
from orderflow.runtime.stack import LocalStack
from orderflow.runtime.watermarks import message_counts
from orderflow.runtime.webclient import FRESH, ServiceRefused, get_json
from orderflow.schemas.topics import ALL_TOPICS

console = Console()
#: Seconds between two views of `up` printed to a log rather than drawn on a terminal.
LOGGED_VIEW_EVERY_S = 30.0
READ_MODELS = ("tracking", "analytics")  # what `orderflow replay` rebuilds
_DRAIN_TIMEOUT_S = 180.0
_PATIENCE_S = 60.0  # the simulator's, for a restarting service

ReportOption = Annotated[
    Path | None, typer.Option(help="Also write the figures and the checks here, as JSON.")
]


def up(
    exit_after_start: Annotated[
        bool,
        typer.Option("--exit", help="Start, show the stack once (or run --orders N), stop."),
    ] = False,
    refresh: Annotated[float, typer.Option(help="Seconds between screen updates.")] = 2.0,
    services: Annotated[
        bool, typer.Option(help="Run every service as its own process (else broker and stores).")
    ] = True,
    orders: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Orders the channel simulator places (default: on until stopped). With --exit: "
            "wait until each has ended, summarise, exit 0 only if all did.",
        ),
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(min=1, help="Like --orders, but place orders for this many seconds."),
    ] = None,
    rate: Annotated[float, typer.Option(min=0.1, help="Orders per second placed.")] = 10.0,
    simulate: Annotated[bool, typer.Option(help="Run the channel simulator.")] = True,
    check: Annotated[
        bool,
        typer.Option(
            help="With --orders N --exit: then check the invariants through the public APIs "
            "(and rebuild the read models to compare); exit 0 only if they hold."
        ),
    ] = False,
    report: ReportOption = None,
) -> None:
    """Run the local stack: broker, topics, stores, every service, and a channel simulator."""
    batch = orders is not None or seconds is not None
    if (check or seconds) and not (exit_after_start and batch and services and simulate):
        typer.echo("orderflow: --check and --seconds go with --exit (and --orders N)", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    stop_on_signals()
    stopping = threading.Event()
    with stopped_cleanly(), LocalStack(settings, with_services=services) as stack:
        if exit_after_start and batch and services and simulate:
            _await_services(stack)
            code = _batch(stack, stopping, rate, orders, seconds, check, report)
            raise typer.Exit(code)
        if exit_after_start:
            _await_services(stack)
        wanted = services and simulate and not exit_after_start
        simulator = _start_simulator(stack, rate, orders, stopping) if wanted else None
        try:
            _show(stack, simulator, exit_after_start, refresh)
        finally:  # before the broker stops: its producer must not wait for it at exit
            stopping.set()
            if simulator is not None:
                simulator.close()


def chaos(
    kills: Annotated[int, typer.Option(min=1, help="SIGKILLs to send.")] = 20,
    every: Annotated[float, typer.Option(min=0.1, help="Seconds between two kills.")] = 3.0,
    rate: Annotated[float, typer.Option(min=0.1, help="Orders per second placed.")] = 20.0,
    seed: Annotated[int, typer.Option(help="Which services are killed, and when.")] = 7,
    drop_connections: Annotated[
        int,
        typer.Option(
            min=0, help="Times PostgreSQL drops every connection of the services at once."
        ),
    ] = 0,
    second_instance: Annotated[
        list[str] | None,
        typer.Option(
            help="Run a second instance of this service (repeatable): the two share its"
            " consumer group and store, and on PostgreSQL its relay's lease, under the kills."
        ),
    ] = None,
    report: ReportOption = None,
) -> None:
    """Place orders while SIGKILLing a random service or projection worker every few seconds
    (and restarting it), and on PostgreSQL, if asked, dropping every connection the services
    hold now and then; then wait for every order to end and check the invariants. Exit 0
    only if nothing was lost, nothing had a double effect and every invariant holds."""
    settings = settings_or_exit()
    if drop_connections and settings.database_url is None:
        typer.echo("orderflow: --drop-connections needs ORDERFLOW_DATABASE_URL", err=True)
        raise typer.Exit(2)
    stop_on_signals()
    stopping = threading.Event()
    seconds = tuple(second_instance or ())
    unknown = sorted(set(seconds) - set(runnable_services()))
    if unknown:
        typer.echo(f"orderflow: --second-instance: no service named {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    with stopped_cleanly(), LocalStack(settings, second_instances=seconds) as stack:
        _await_services(stack)
        monkey = ChaosMonkey(stack.services, seed)
        drops_after = _spread(drop_connections, kills)
        audited, drained_s = _under_fire(stack, monkey, stopping, rate, kills, every, drops_after)
        console.print(chaos_table(audited, monkey, drained_s), audit_table(audited))
        figures = {
            "kills": len(monkey.kills),
            "connection_drops": len(monkey.dropped),
            "drain_s": round(drained_s, 1),
        }
        code = 0 if audited.ok and not monkey.unexpected_exits else 1
        raise typer.Exit(_reported(code, figures, audited, path=report))


def _spread(drops: int, kills: int) -> frozenset[int]:
    """After which kills the connections are dropped: evenly over the run, at most one per
    kill."""
    return frozenset(round(i * kills / (drops + 1)) for i in range(1, drops + 1)) - {0}


def _under_fire(
    stack: LocalStack,
    monkey: ChaosMonkey,
    stopping: threading.Event,
    rate: float,
    kills: int,
    every: float,
    drops_after: frozenset[int] = frozenset(),
) -> tuple[Report, float]:
    """Orders placed while the monkey strikes `kills` times, `every` seconds (and drops the
    database connections after the kills numbered in `drops_after`); then the drain and the
    audit. The audit's report, and the seconds it took to drain."""
    endpoints = Endpoints.local(stack.settings)
    before = stock_levels(endpoints)
    baseline = _ended_in_read_models(endpoints.tracking) or 0  # orders of earlier runs
    simulator = _start_simulator(stack, rate, None, stopping)
    try:
        for number in range(1, kills + 1):
            time.sleep(every)
            kill = monkey.strike()
            console.print(f"kill {number}/{kills}: {kill.service} (pid {kill.pid})")
            if number in drops_after and stack.settings.database_url is not None:
                ended = store.drop_connections(stack.settings.database_url)
                monkey.dropped.append(ended)
                console.print(f"PostgreSQL dropped the services' {ended} connections")
        stopping.set()
        simulator.close(timeout=_PATIENCE_S)  # its last order placed
        console.print(f"{len(simulator.placed):,} orders placed; draining")
        drain_started = time.monotonic()
        progress = lambda: (_ended_in_read_models(endpoints.tracking) or 0) - baseline  # noqa: E731
        _, drained = _await_the_end(simulator, _DRAIN_TIMEOUT_S, stack, progress, monkey)
        drained_s = drained - drain_started
        return Audit(simulator, endpoints, before).run(rebuild=_rebuild_read_models), drained_s
    finally:
        stopping.set()
        simulator.close()


def _reported(code: int, figures: dict[str, Any], audited: Report | None, path: Path | None) -> int:
    """`code`, after writing the figures and the audit to `path` if one is given."""
    if path is not None:
        content = {"ok": code == 0, **figures}
        if audited is not None:
            content["audit"] = audited.as_dict()
        path.write_text(json.dumps(content, indent=2))
    return code


def _show(
    stack: LocalStack, simulator: ChannelSimulator | None, exit_after_start: bool, refresh: float
) -> None:
    """The live view until Ctrl-C; with --exit, one view. Where the output is not a terminal
    (a log file, a pipe, a service manager), a live view would print nothing until the stack
    stops: the view is printed whole, now and then every LOGGED_VIEW_EVERY_S, instead."""
    if exit_after_start:
        console.print(_view(stack, simulator))
        return
    if not console.is_terminal:
        while True:
            console.print(_view(stack, simulator))
            time.sleep(max(refresh, LOGGED_VIEW_EVERY_S))
    with Live(_view(stack, simulator), console=console, refresh_per_second=1) as live:
        while True:
            time.sleep(refresh)
            live.update(_view(stack, simulator))


def _await_services(stack: LocalStack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(s.state() == "starting" for s in stack.services) and time.monotonic() < deadline:
        time.sleep(0.3)


def _start_simulator(
    stack: LocalStack, rate: float, orders: int | None, stopping: threading.Event
) -> ChannelSimulator:
    endpoints = Endpoints.local(stack.settings)
    simulator = ChannelSimulator(
        stack.settings.kafka_bootstrap,
        endpoints.intake,
        endpoints.inventory,
        endpoints.tracking,
        stack.channel_keys,
        rate,
    )

    # the simulator places orders once the services answer
    simulator.start(stopping, orders, first=lambda: _await_services(stack))
    return simulator


def _batch(
    stack: LocalStack,
    stopping: threading.Event,
    rate: float,
    orders: int | None,
    seconds: float | None,
    check: bool,
    report: Path | None,
) -> int:
    """`up --orders N --exit` (or `--seconds S`): place the orders, wait until each has ended,
    summarise, and with `check` audit the run. 0 if all ended (and the invariants hold)."""
    endpoints = Endpoints.local(stack.settings)
    before = stock_levels(endpoints) if check else None
    baseline = _ended_in_read_models(endpoints.tracking) or 0
    simulator = _start_simulator(stack, rate, orders, stopping)
    if seconds is not None:
        timer = threading.Timer(seconds, stopping.set)
        timer.daemon = True
        timer.start()
    try:
        code, figures, audited = _run_to_the_end(stack, simulator, before, baseline)
    finally:
        stopping.set()
        simulator.close()
    return _reported(code, figures, audited, report)


def _run_to_the_end(
    stack: LocalStack,
    simulator: ChannelSimulator,
    stock_before: dict[tuple[str, str], tuple[int, int]] | None,
    baseline: int,
) -> tuple[int, dict[str, Any], Report | None]:
    """Wait until the simulator is done placing and every order has ended; summarise; with
    `stock_before`, check the invariants too."""
    endpoints, started = Endpoints.local(stack.settings), time.monotonic()
    while simulator.placing:
        _sample_memory(stack)
        time.sleep(0.5)
    progress = lambda: (_ended_in_read_models(endpoints.tracking) or 0) - baseline  # noqa: E731
    statuses, ended_at = _await_the_end(simulator, _DRAIN_TIMEOUT_S, stack, progress)
    elapsed = ended_at - started
    console.print(summary(simulator, statuses, elapsed, endpoints.tracking))
    ended = _all_ended(statuses)
    figures = _figures(stack, simulator, statuses, elapsed)
    if stock_before is None or not ended:
        return (0 if ended else 1), figures, None
    audited = Audit(simulator, endpoints, stock_before).run(rebuild=_rebuild_read_models)
    console.print(audit_table(audited))
    return (0 if audited.ok else 1), figures, audited


def _figures(
    stack: LocalStack, simulator: ChannelSimulator, statuses: Counter[str], elapsed: float
) -> dict[str, Any]:
    ended = sum(n for status, n in statuses.items() if status in TERMINAL)
    try:
        url = f"{Endpoints.local(stack.settings).tracking}/analytics/lead-times"
        lead = get_json(url, FRESH)  # not the answer the view was given seconds ago
        invoiced = dict(lead["placed_to_invoiced"])
    except (OSError, ServiceRefused):
        invoiced = {}
    return {
        "orders": len(simulator.placed),
        "ended": ended,
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(ended / max(elapsed, 1e-9), 1),
        "placed_to_invoiced": invoiced,
        "rss_mb_max": {s.label: round(s.peak_rss_mb, 1) for s in stack.services},
        "cpu_s": {s.label: round(s.cpu_s, 1) for s in stack.services} | _broker_cpu_s(stack),
    }


def _broker_cpu_s(stack: LocalStack) -> dict[str, float]:
    used = cpu_seconds(stack.broker.pid) if stack.broker and stack.broker.pid else None
    return {} if used is None else {"broker": round(used, 1)}


def _sample_memory(stack: LocalStack) -> None:
    for service in stack.services:
        service.sample()


def _ended_in_read_models(tracking_url: str) -> int | None:
    """Orders in a terminal state as the read models count them (one cheap request)."""
    try:
        counts = get_json(f"{tracking_url}/analytics/statuses", timeout=5)
    except (OSError, ServiceRefused):
        return None
    return sum(int(n) for status, n in counts.items() if status in TERMINAL)


def _await_the_end(
    simulator: ChannelSimulator,
    timeout: float,
    stack: LocalStack,
    progress: Callable[[], int],
    monkey: ChaosMonkey | None = None,
) -> tuple[Counter[str], float]:
    """Order intake's statuses of the placed orders, once all have ended or time is up, and
    when the look that found them so began. Until the read models (`progress`) count as many
    ended orders as were placed, intake, whose listing costs more, is not asked; and its
    listing (seconds, for thousands of orders) is the watcher's time, not the system's: a look
    begins only once the read models, downstream of every service, count every placed order
    ended (beyond earlier runs' orders), so what it finds had ended before it began."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _sample_memory(stack)
        if monkey is not None:
            monkey.revive()
        if progress() >= len(simulator.placed):
            looked = time.monotonic()
            statuses = simulator.statuses()
            if _all_ended(statuses):
                return statuses, looked
        time.sleep(0.5)
    looked = time.monotonic()
    return simulator.statuses(), looked


def _all_ended(statuses: Counter[str]) -> bool:
    return all(status in TERMINAL for status, count in statuses.items() if count)


def _rebuild_read_models() -> None:
    """`orderflow replay` of each read model, as an operator runs it."""
    for projection in READ_MODELS:
        done = subprocess.run(
            [sys.executable, "-m", "orderflow.runtime", "replay", projection],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"orderflow replay {projection} failed: {_said(done.stderr)}")


def _said(stderr: str) -> str:
    """What a command said of its failure: its own lines, whole (`orderflow: ...`), rather than
    the tail of whatever librdkafka logged before them."""
    ours = [line for line in stderr.splitlines() if line.startswith("orderflow: ")]
    return " ".join(ours) if ours else stderr.strip()[-500:]


def _view(stack: LocalStack, simulator: ChannelSimulator | None = None) -> Group:
    parts = stack_view(stack, _counts(stack.settings.kafka_bootstrap))
    if not stack.services:
        return parts
    return Group(parts, orders_view(Endpoints.local(stack.settings).tracking, simulator))


def _counts(bootstrap: str) -> dict[str, int]:
    """Messages per topic, or none (the view shows "?") while the broker does not answer: a
    broker's pause must not end the stack whose view asked."""
    try:
        return message_counts(bootstrap, ALL_TOPICS)
    except KafkaException:
        return {}
