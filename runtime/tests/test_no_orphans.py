"""A broker or a service started by orderflow dies with its parent, however the parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stack_probe import SERVICE_PORTS, ready

from orderflow.runtime.broker import answers, free_port
from orderflow.runtime.processes import pids_with_argument
from orderflow.runtime.settings import variable_name

pytestmark = pytest.mark.chaos


def test_kill_9_of_the_parent_leaves_no_broker(tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "ORDERFLOW_DATA_DIR": str(tmp_path),
    }
    parent = subprocess.Popen(
        [sys.executable, "-m", "orderflow.runtime", "broker", "--no-topics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not answers(bootstrap):
        assert time.monotonic() < deadline, "broker never answered"
    assert pids_with_argument(f"tcp://{bootstrap}")

    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)

    deadline = time.monotonic() + 10
    while pids_with_argument(f"tcp://{bootstrap}"):
        assert time.monotonic() < deadline, "broker outlived its killed parent"
        time.sleep(0.1)


def test_kill_9_of_up_leaves_no_service_and_no_broker(tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    ports = {name: free_port() for name in SERVICE_PORTS}
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        **{variable_name(name): str(number) for name, number in ports.items()},
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "orderflow.runtime", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while not all(ready(number) for number in ports.values()):
        assert time.monotonic() < deadline, "the services never became ready"
        time.sleep(0.2)

    up.send_signal(signal.SIGKILL)
    up.wait(timeout=10)

    # a service whose broker is gone answers no readiness probe, but may still run: look for
    # the processes themselves, by the data directory only this run's have in their environment
    deadline = time.monotonic() + 20
    while pids_with_environment(f"ORDERFLOW_DATA_DIR={tmp_path}") or pids_with_argument(
        f"tcp://{bootstrap}"
    ):
        assert time.monotonic() < deadline, "a service or the broker outlived its killed parent"
        time.sleep(0.2)


def pids_with_environment(entry: str) -> list[int]:
    """Pids of live processes (not zombies) whose environment holds `entry` (NAME=value)."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            environment = (process / "environ").read_bytes().split(b"\0")
            state = (process / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # not a process, or gone while we looked
        if state != "Z" and entry.encode() in environment:
            found.append(int(process.name))
    return found
