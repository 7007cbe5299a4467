"""The whole system under load, as `orderflow up` runs it (broker, six processes, the channel
simulator, all on this machine): `up --seconds S --rate R --exit --report` in a fresh data
directory (and a fresh database for PostgreSQL), its report read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from orderflow.runtime.broker import free_port
from orderflow.runtime.settings import Settings, variable_name

PORTS = [name for name in Settings.model_fields if name.endswith("_port")]


def system_run(seconds: float, rate: float, database_url: str | None) -> dict[str, Any]:
    """Place orders at `rate` (as fast as the simulator can when the system cannot keep up)
    for `seconds`, wait for every order to end; the run's report."""
    with tempfile.TemporaryDirectory() as data:
        report = Path(data) / "report.json"
        env = {
            **os.environ,
            "ORDERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "ORDERFLOW_DATA_DIR": data,
            **{variable_name(name): str(free_port()) for name in PORTS},
        }
        env.pop("ORDERFLOW_DATABASE_URL", None)
        if database_url is not None:
            env["ORDERFLOW_DATABASE_URL"] = database_url
        command = [sys.executable, "-m", "orderflow.runtime", "up", "--exit"]
        options = ["--seconds", str(seconds), "--rate", str(rate), "--report", str(report)]
        run = subprocess.run(
            command + options, env=env, capture_output=True, text=True, timeout=seconds + 600
        )
        if run.returncode != 0 or not report.exists():
            raise RuntimeError(f"orderflow up failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
        return dict(json.loads(report.read_text()))
