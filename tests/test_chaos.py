"""The short chaos suite (`make chaos` runs the full one, on SQLite): on PostgreSQL, with a
second billing instance sharing the first's partitions and relay lease, while orders are placed,
a random service or projection worker is SIGKILLed every two seconds and restarted, and twice
the database drops every connection the services hold; afterwards every order has ended, none is
lost, none had an effect twice, and every invariant holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from system_stack import ORDERFLOW, stack_env

pytestmark = pytest.mark.chaos
KILLS, DROPS = 10, 2


def test_orders_survive_services_killed_and_connections_dropped(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # given the whole stack on a PostgreSQL database of its own, with two billing instances,
    # placing 15 orders a second
    report = tmp_path / "report.json"

    # when ten times, every two seconds, a random process is SIGKILLed and restarted, and
    # twice PostgreSQL ends every connection of the services
    run = subprocess.run(
        [
            *ORDERFLOW,
            "chaos",
            "--kills",
            str(KILLS),
            "--every",
            "2",
            "--rate",
            "15",
            "--drop-connections",
            str(DROPS),
            "--second-instance",
            "billing",
            "--report",
            str(report),
        ],
        env=stack_env(tmp_path, fresh_database_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # then nothing was lost, nothing happened twice, and every invariant holds
    print(run.stdout[-6000:], run.stderr[-3000:])
    outcome = json.loads(report.read_text())
    assert (outcome["kills"], outcome["connection_drops"]) == (KILLS, DROPS)
    audit = outcome["audit"]
    assert audit["accepted"] > 100
    assert (audit["lost"], audit["duplicates"]) == (0, 0)
    assert [f for f in audit["findings"] if not f["ok"]] == []
    assert run.returncode == 0
