"""Run ledger services as their own OS processes, as an operator would, for e2e and chaos tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ledger_service import Ledgers

from orderflow.runtime.settings import Settings
from orderflow.runtime.store import store_for

SUPPORT = Path(__file__).resolve().parent
#: A SIGKILLed member keeps its partitions until its session expires: with the default 6 s the
#: embedded broker hands them to the restarted process after ~11 s, with 2 s after ~4 s. The
#: tests kill dozens of times; heartbeats come from librdkafka's own thread, so 2 s holds.
QUICK_FAILOVER = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "500"}


@dataclass
class LedgerProcess:
    """One service process; `restart` keeps its settings, `kills` counts SIGKILL deaths."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0
    faults_plan: list[str] = field(default_factory=list)  # ORDERFLOW_FAULTS per start, in turn
    _log: IO[bytes] | None = field(default=None, repr=False)
    _log_start: int = 0

    def start(self) -> LedgerProcess:
        self._log = self.log_path.open("ab")
        self._log_start = self.log_path.stat().st_size
        self.env["ORDERFLOW_FAULTS"] = self.faults_plan.pop(0) if self.faults_plan else ""
        command = [sys.executable, "-m", "orderflow.runtime", "service", "ledger_service:SERVICE"]
        if self.port is not None:
            command += ["--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reap(self) -> bool:
        """True when it died by SIGKILL since the last look (counted), then it is restarted."""
        if self.process is None or self.process.poll() is None:
            return False
        if self.process.returncode == -signal.SIGKILL:
            self.kills += 1
        self.start()
        return True

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)

    def stop(self, timeout: float = 15) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        if self._log:
            self._log.close()
        return code

    def working(self) -> bool:
        """Alive and consuming since its last start (its partitions assigned)."""
        if not self.alive():
            return False
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return b"partitions assigned" in log.read()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def ledger_process(
    name: str,
    consumes: str,
    group: str,
    settings: Settings,
    bootstrap: str,
    log_dir: Path,
    publishes_to: str | None = None,
    faults: list[str] | None = None,
    port: int | None = None,
) -> LedgerProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "LEDGER_NAME": name,
        "LEDGER_IN": consumes,
        "LEDGER_GROUP": group,
        "ORDERFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "ORDERFLOW_DATA_DIR": str(settings.data_dir),
        "ORDERFLOW_KAFKA_OPTIONS": json.dumps(
            {**QUICK_FAILOVER, **json.loads(os.environ.get("ORDERFLOW_KAFKA_OPTIONS") or "{}")}
        ),
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)
    if settings.database_url:
        env["ORDERFLOW_DATABASE_URL"] = settings.database_url
    if publishes_to:
        env["LEDGER_OUT"] = publishes_to
    return LedgerProcess(
        name, env, log_dir / f"{name}-{group}.log", port, faults_plan=list(faults or [])
    )


def references(name: str, settings: Settings) -> list[str]:
    app = Ledgers(env=store_for(name, settings).env)
    return [ref for refs in app.references().values() for ref in refs]


def wait_for(condition: object, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
