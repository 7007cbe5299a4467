"""The whole system as `make run` starts it: `orderflow up --orders N --exit` runs the broker,
every service and the projection workers as processes, the channel simulator places a mix of
orders over HTTP and the channel topic, and every order ends where its kind says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow.runtime.broker import free_port
from orderflow.runtime.settings import Settings, variable_name

pytestmark = pytest.mark.e2e
PORTS = [name for name in Settings.model_fields if name.endswith("_port")]  # every process's
EXPECTED = {  # kind of order -> the end states it may reach
    "plain": {"completed"},
    "split": {"completed"},
    "out_of_stock": {"rejected"},
    "declined": {"cancelled"},
    "cancelled": {"cancelled", "completed"},  # the customer may be too late to cancel
}


def test_up_runs_a_mixed_batch_of_orders_to_their_ends(tmp_path: Path) -> None:
    # given a fresh machine's state: nothing but a data directory (SQLite) and free ports
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
        **{variable_name(name): str(free_port()) for name in PORTS},
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)

    # when 60 orders are placed and run to their ends
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "orderflow.runtime",
            "up",
            "--orders",
            "60",
            "--rate",
            "20",
            "--exit",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # then every order ended, each where its kind says, and the summary says so
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "60 orders placed, 60 ended" in run.stdout
    assert "every order ended" in run.stdout
    outcomes = re.findall(r"│ (\w+)\s+│ (\w+)\s+│ (\d+)\s+│", run.stdout)
    assert sum(int(n) for _, _, n in outcomes) == 60
    for kind, status, _ in outcomes:
        assert status in EXPECTED[kind], (kind, status)
    assert {kind for kind, _, _ in outcomes} >= {"plain", "split", "out_of_stock", "declined"}
