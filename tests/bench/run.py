"""`make bench`: run each benchmark on one broker, keep medians, write var/bench/results.json
(machine-readable) and docs/benchmarks.md (for people). Figures from one run are comparable with
each other; across runs and machines, compare ratios."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from faust_projection import faust_projection
from kafka_hop import raw_hop
from projection_rebuild import fill, rebuild_both, rebuild_tracking
from psycopg import sql
from runtime_hop import hop, relay_drain
from system import system_run
from targets import FAUST, verdicts

from orderflow.runtime import collector, logs
from orderflow.runtime.broker import EmbeddedBroker
from orderflow.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "50000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
PROJECTION_EVENTS = int(os.environ.get("BENCH_PROJECTION_EVENTS", "1000000"))
SYSTEM_SECONDS = float(os.environ.get("BENCH_SYSTEM_SECONDS", "60"))
SATURATION_RATE = 5000.0  # orders/s asked of the simulator: more than the system takes
LATENCY_RATE = 100.0
POSTGRES = os.environ.get("ORDERFLOW_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Result:
    value: float
    unit: str
    notes: str


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[int]]:
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), [round(sample) for sample in samples]


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"orderflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            info = psycopg.conninfo.conninfo_to_dict(POSTGRES)
            password = f":{info['password']}" if info.get("password") else ""
            yield (
                f"postgresql://{info.get('user', 'postgres')}{password}@"
                f"{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{name}"
            )
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def run_all(bootstrap: str) -> dict[str, Result]:
    results: dict[str, Result] = {}
    raw, raw_samples = median_of(RUNS, lambda: raw_hop(bootstrap, MESSAGES, partitions=6))
    results["raw_hop_msgs_per_s"] = Result(
        round(raw),
        "msgs/s",
        (
            f"bare confluent-kafka consume-then-produce, {MESSAGES} msgs of 200 B, 6 partitions, "
            f"median of {RUNS} {raw_samples}"
        ),
    )
    with scratch_database() as url, tempfile.TemporaryDirectory() as data:
        postgres, sqlite = Settings(database_url=url), Settings(data_dir=Path(data))
        for name, settings in (("postgres", postgres), ("sqlite", sqlite)):
            value, samples = median_of(RUNS, lambda s=settings: hop(bootstrap, s, EVENTS))
            results[f"hop_events_per_s_{name}"] = Result(
                round(value),
                "events/s",
                (
                    f"consume, decode, handler writes 1 event + inbox row, relay publishes it; "
                    f"{EVENTS} events, batches of 2000, one process, from the group's join to "
                    f"the last event seen on the output topic (relay producer connected "
                    f"beforehand); median of {RUNS} {samples}; "
                    f"{value / raw:.1%} of the bare loop"
                ),
            )
        value, samples = median_of(RUNS, lambda: relay_drain(bootstrap, postgres, EVENTS))
        results["relay_events_per_s_postgres"] = Result(
            round(value),
            "events/s",
            (
                f"relay draining {EVENTS} stored events (read, translate, encode, produce, "
                f"confirm, save position) in batches of 5000, its producer connected beforehand "
                f"as in a running service; median of {RUNS} {samples}"
            ),
        )
        results.update(projections(bootstrap, url))
    results.update(system())
    return results


def transactions(url: str) -> int:
    """PostgreSQL transactions in the database so far: each a round trip of some service (the
    processes have exited, so their counts are flushed); unlike timings, hardly noisy."""
    time.sleep(1.0)  # a backend's counts reach the statistics within a second of its exit
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def per_order(url: str, run: dict[str, Any]) -> float:
    return round(transactions(url) / max(1, run["ended"]), 1)


def system() -> dict[str, Result]:
    """The whole system (its own broker, six processes, the simulator) on this machine: at
    saturation for SYSTEM_SECONDS on each store, then at a fixed 100 orders/s on PostgreSQL."""
    results, peaks, rounds = {}, {}, {}
    for store in ("postgres", "sqlite"):
        with scratch_database() as url:
            run = system_run(SYSTEM_SECONDS, SATURATION_RATE, url if store == "postgres" else None)
            if store == "postgres":
                rounds["saturation"] = per_order(url, run)
        peaks[f"saturation on {store}"] = run["rss_mb_max"]
        results[f"e2e_orders_per_s_{store}"] = Result(
            run["orders_per_s"],
            "orders/s",
            f"{run['ended']} orders placed for {SYSTEM_SECONDS:.0f} s as fast as the simulator "
            f"could, all ended {run['elapsed_s']} s after the first; {store}; one run; "
            f"CPU seconds per process {run['cpu_s']}",
        )
    with scratch_database() as url:
        run = system_run(SYSTEM_SECONDS, LATENCY_RATE, url)
        rounds[f"{LATENCY_RATE:.0f} orders/s"] = per_order(url, run)
    peaks["100 orders/s on postgres"] = run["rss_mb_max"]
    lead = run["placed_to_invoiced"]
    note = (
        f"placed -> invoiced (first invoice), from the tracking read model, over {lead['count']} "
        f"invoiced orders of {run['orders']} placed at {LATENCY_RATE:.0f}/s for "
        f"{SYSTEM_SECONDS:.0f} s on PostgreSQL ({run['orders_per_s']} orders/s ended)"
    )
    results["e2e_latency_ms_p50"] = Result(round(lead["p50_s"] * 1000), "ms", note)
    results["e2e_latency_ms_p99"] = Result(round(lead["p99_s"] * 1000), "ms", note)
    results["e2e_pg_transactions_per_order"] = Result(
        rounds["saturation"],
        "transactions/order",
        f"PostgreSQL transactions (round trips of every service) per ended order, from "
        f"pg_stat_database, at saturation; per run {rounds}",
    )
    worst = max(
        (mb, f"{name} ({run_name})") for run_name, by in peaks.items() for name, mb in by.items()
    )
    results["service_rss_mb_max"] = Result(
        worst[0],
        "MB",
        f"peak resident memory of any service process (sampled every 0.5 s): {worst[1]}; "
        f"per run {peaks}",
    )
    return results


def projections(bootstrap: str, database_url: str) -> dict[str, Result]:
    """Rebuilds on PostgreSQL from one topic of whole order lifecycles (6 partitions): both
    read models side by side, the tracking model alone, and the tracking model by a faust
    agent. A million events take minutes: one run each."""
    topic = f"bench-projection-{uuid.uuid4().hex[:8]}"
    events = fill(bootstrap, topic, PROJECTION_EVENTS)
    settings = Settings(database_url=database_url, kafka_bootstrap=bootstrap)
    both = rebuild_both(settings, topic, events, "bench_projections")
    ours = rebuild_tracking(settings, topic, events, "bench_tracking")
    theirs = faust_projection(bootstrap, topic, events, database_url)
    source = f"{events} events on PostgreSQL; one run"
    return {
        "projection_rebuild_events_per_s": Result(
            round(both),
            "events/s",
            f"orderflow replay of tracking and analytics side by side until both swapped in; "
            f"{source}",
        ),
        "tracking_rebuild_events_per_s": Result(
            round(ours),
            "events/s",
            f"orderflow replay of the tracking model alone (group join included); {source}; "
            f"{ours / theirs:.1f}x the faust agent",
        ),
        "faust_projection_events_per_s": Result(
            round(theirs),
            "events/s",
            f"faust-streaming agent applying the same tracking model in batches of 2000 "
            f"(first event to last, group join excluded); {source}",
        ),
    }


def write(results: dict[str, Result], bootstrap: str, broker: str) -> None:
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "broker": broker,
        "bootstrap": bootstrap,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "host_speed_us": host_speed_us(),
    }
    out = ROOT / "var" / "bench" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"meta": meta, **{k: asdict(v) for k, v in results.items()}}, indent=2) + "\n"
    )
    judged = verdicts({k: v.value for k, v in results.items()})
    rows = "\n".join(
        f"| `{k}` | {_shown(v.value)} | {v.unit} | {judged.get(k, '')} | {v.notes} |"
        for k, v in results.items()
    )
    (ROOT / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\nWritten by `make bench` (raw figures in `var/bench/results.json`). "
        "Medians of one run on one machine: compare ratios within a run, not across machines.\n\n"
        f"Last run: {meta['at']}, {meta['cpus']} CPUs, Python {meta['python']}, {broker}; "
        "broker, PostgreSQL, every service and the simulator share the machine. Host speed at "
        f"the end of the run: {meta['host_speed_us']} us for `sum(range(1000))` (lower is "
        "faster; shared machines vary by 2x from hour to hour, so scale figures by it before "
        "comparing runs).\n\n"
        "| benchmark | value | unit | target | notes |\n|---|---:|---|---|---|\n"
        + rows
        + "\n"
        + FAUST
    )
    print(json.dumps({k: asdict(v) for k, v in results.items()}, indent=2))


def host_speed_us() -> float:
    """The best of 5 timings of a fixed bit of pure Python: how fast this machine was at the
    time, a yardstick for comparing runs made on different hours or hosts."""
    loops = 20_000
    best = min(timeit.repeat("sum(range(1000))", number=loops, repeat=5))
    return round(best / loops * 1e6, 1)


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def main() -> int:
    logs.configure("WARNING")
    collector.settle()  # as the orderflow command does: the in-process rebuilds run as they would
    configured = os.environ.get("ORDERFLOW_KAFKA_BOOTSTRAP")
    if configured:
        write(run_all(configured), configured, "configured cluster")
        return 0
    with EmbeddedBroker(log_path=ROOT / "var" / "logs" / "bench-broker.log") as broker:
        write(run_all(broker.bootstrap), broker.bootstrap, "embedded Tansu (memory storage)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
