"""`make bench`: run each benchmark a few times on one broker, keep the median, write
var/bench/results.json (machine-readable) and docs/benchmarks.md (for people)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kafka_hop import raw_hop

from orderflow.runtime.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "50000"))


@dataclass
class Result:
    value: float
    unit: str
    notes: str


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), samples


def run_all(bootstrap: str) -> dict[str, Result]:
    value, samples = median_of(RUNS, lambda: raw_hop(bootstrap, MESSAGES, partitions=6))
    return {
        "raw_hop_msgs_per_s": Result(
            round(value),
            "msgs/s",
            f"bare confluent-kafka consume-then-produce, {MESSAGES} msgs of 200 B, 6 partitions, "
            f"median of {RUNS} runs {[round(s) for s in samples]}",
        ),
    }


def write(results: dict[str, Result], bootstrap: str, broker: str) -> None:
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "broker": broker,
        "bootstrap": bootstrap,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    out = ROOT / "var" / "bench" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"meta": meta, **{k: asdict(v) for k, v in results.items()}}, indent=2) + "\n"
    )
    rows = "\n".join(f"| `{k}` | {v.value:,} | {v.unit} | {v.notes} |" for k, v in results.items())
    (ROOT / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\nWritten by `make bench` (raw figures in `var/bench/results.json`). "
        "Medians of one run on one machine: compare ratios within a run, not across machines.\n\n"
        f"Last run: {meta['at']}, {meta['cpus']} CPUs, Python {meta['python']}, {broker}.\n\n"
        "| benchmark | value | unit | notes |\n|---|---:|---|---|\n" + rows + "\n"
    )
    print(json.dumps({k: asdict(v) for k, v in results.items()}, indent=2))


def main() -> int:
    configured = os.environ.get("ORDERFLOW_KAFKA_BOOTSTRAP")
    if configured:
        write(run_all(configured), configured, "configured cluster")
        return 0
    with EmbeddedBroker(log_path=ROOT / "var" / "logs" / "bench-broker.log") as broker:
        write(run_all(broker.bootstrap), broker.bootstrap, "embedded Tansu (memory storage)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
