"""A broker started by orderflow dies with its parent, however the parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orderflow.runtime.broker import answers, free_port
from orderflow.runtime.processes import pids_with_argument

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
