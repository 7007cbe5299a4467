"""The services of `orderflow up`: each installed service that exports a `ServiceSpec` runs as
its own OS process (`orderflow service <name>`), tied to its parent so a killed `up` leaves
none behind, and is stopped with SIGTERM (it drains, then exits) when `up` stops."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orderflow.runtime.broker import cannot_listen, die_with_parent, free_port
from orderflow.runtime.health import is_ready
from orderflow.runtime.processes import cpu_seconds
from orderflow.runtime.services import installed_services
from orderflow.runtime.settings import Settings, variable_name
from orderflow.runtime.spec import resolve

#: Channel keys for local runs when none are configured (ARCHITECTURE.md's defaults).
DEV_CHANNEL_KEYS = {"web": "dev-web-key", "marketplace": "dev-marketplace-key"}
_DRAIN_S = 12.0


@dataclass
class ServiceProcess:
    name: str
    port: int | None
    log: Path
    env: dict[str, str] = field(repr=False)
    instance: int = 1  # a second instance of a service serves its API on a port of its own
    process: subprocess.Popen[bytes] = field(init=False, repr=False)
    restarts: int = 0
    peak_rss_mb: float = 0.0  # the most seen by `sample`
    cpu_s: float = 0.0  # CPU time (user + system) of the current process, as last sampled

    def sample(self) -> None:
        """Note the process's resident memory, keeping the peak, and its CPU time (Linux
        /proc; elsewhere nothing is noted)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return  # gone, or not Linux
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
        self.cpu_s = cpu_seconds(self.process.pid) or self.cpu_s

    def __post_init__(self) -> None:
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:  # the child has its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "orderflow.runtime", "service", self.name, *self._port],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    @property
    def label(self) -> str:
        """The service's name, and the instance's number after the first (`billing#2`)."""
        return self.name if self.instance == 1 else f"{self.name}#{self.instance}"

    @property
    def _port(self) -> list[str]:
        return ["--port", str(self.port)] if self.instance > 1 and self.port else []

    def kill(self) -> None:
        """SIGKILL: no draining, no goodbye; what a crash or the OOM killer does."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        if self.process.poll() is None:
            raise RuntimeError(f"{self.label} is still running")
        self.process = self._spawn()
        self.restarts += 1

    def state(self) -> str:
        code = self.process.poll()
        if code is not None:
            return f"exited {code}"
        ready = self.port and is_ready(f"http://127.0.0.1:{self.port}", timeout=1)
        return "ready" if ready else "starting"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(_DRAIN_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def runnable_services() -> list[str]:
    """Installed services that export a spec (a package still being built exports none)."""
    names = []
    for name in installed_services():
        try:
            resolve(name)
        except LookupError:
            continue
        names.append(name)
    return names


def stored_services() -> list[str]:
    """Runnable services with an event store of their own (not the read side)."""
    return [name for name in runnable_services() if resolve(name).application is not None]


class PortTaken(RuntimeError):
    """A service's port is held by another process: another stack, most likely, whose
    services would answer for ours."""


def _refuse_taken_ports(settings: Settings, names: Sequence[str]) -> None:
    for name in names:
        spec = resolve(name)
        port = spec.port(settings)
        if not (spec.port_setting and port):
            continue
        error = cannot_listen(settings.host, port)
        if error is None:
            continue
        where = f"port {port} on {settings.host}, {name}'s ({variable_name(spec.port_setting)})"
        if error.errno == errno.EADDRINUSE:
            raise PortTaken(f"{where}, is already in use: another orderflow up, or another program")
        raise PortTaken(f"{where}, cannot be listened on: {error.strerror or error}")


def start_services(
    settings: Settings, keys: dict[str, str], second: Sequence[str] = ()
) -> list[ServiceProcess]:
    """Every runnable service, and a second instance of each service named in `second`."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        variable_name("kafka_bootstrap"): settings.kafka_bootstrap,
        variable_name("data_dir"): str(settings.data_dir),
        variable_name("channel_keys"): json.dumps(keys),
    }
    names = runnable_services()
    unknown = sorted(set(second) - set(names))
    if unknown:
        raise LookupError(f"no service named {', '.join(unknown)}")
    _refuse_taken_ports(settings, names)
    firsts = [
        ServiceProcess(name, resolve(name).port(settings), logs / f"{name}.log", env)
        for name in names
    ]
    seconds = [ServiceProcess(name, free_port(), logs / f"{name}-2.log", env, 2) for name in second]
    return firsts + seconds
