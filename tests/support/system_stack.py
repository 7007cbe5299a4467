"""The environment of a local stack of its own for a system test: free ports for the broker
and every process, the test's data directory, SQLite unless a database is given."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orderflow.runtime.broker import free_port
from orderflow.runtime.settings import Settings, variable_name

ORDERFLOW = [sys.executable, "-m", "orderflow.runtime"]
PORTS = [name for name in Settings.model_fields if name.endswith("_port")]  # every process's


def stack_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
        **{variable_name(name): str(free_port()) for name in PORTS},
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)
    if database_url is not None:
        env["ORDERFLOW_DATABASE_URL"] = database_url
    return env
