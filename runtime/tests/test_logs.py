"""Every line a service writes to stderr is one JSON object, whoever wrote it."""

from __future__ import annotations

import json
import subprocess
import sys

# Threads write through structlog and through `logging` (as uvicorn does) at once.
WRITERS = """
import logging, threading
import structlog
from orderflow.runtime import logs

logs.configure("INFO", service="ledger")

def ours() -> None:
    log = structlog.get_logger("orderflow.test")
    for n in range(3000):
        log.info("handled", n=n)

def theirs() -> None:
    log = logging.getLogger("uvicorn.error")
    for n in range(3000):
        log.info("Finished server process [%d]", n)

threads = [threading.Thread(target=f) for f in (ours, theirs, ours, theirs)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_lines_from_structlog_and_logging_threads_are_each_one_json_object() -> None:
    # Given four threads logging through both paths; when they write at once
    written = subprocess.run(
        [sys.executable, "-c", WRITERS], capture_output=True, text=True, check=True
    ).stderr

    # Then every line parses alone and carries the service and level
    lines = [json.loads(line) for line in written.splitlines()]
    assert len(lines) == 12_000
    assert {line["service"] for line in lines} == {"ledger"}
    assert {line["level"] for line in lines} == {"info"}
    theirs = [line for line in lines if line.get("logger") == "uvicorn.error"]
    assert len(theirs) == 6000
    assert theirs[0]["event"].startswith("Finished server process [")
