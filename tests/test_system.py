"""The end-to-end suite: `orderflow up --orders N --exit --check` runs the broker, every service
and the projection workers as processes of their own; the channel simulator places a mix of
orders over HTTP and the channel topic; then the invariants are checked through the public
APIs only, and the read models are compared with a rebuild (`orderflow replay`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from system_stack import ORDERFLOW, stack_env

from orderflow.runtime.settings import Settings
from orderflow.runtime.simulator import EXPECTED
from orderflow.runtime.spec import resolve
from orderflow.runtime.store import store_for

pytestmark = pytest.mark.e2e
ORDERS = 150


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_mixed_run_ends_every_order_and_keeps_every_invariant(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # given a fresh machine's state: a data directory (SQLite) or a fresh database, free ports
    database = request.getfixturevalue("fresh_database_url") if store == "postgres" else None
    report = tmp_path / "report.json"

    # when a mixed batch of orders is placed, run to their ends, and checked
    run = subprocess.run(
        [
            *ORDERFLOW,
            "up",
            "--orders",
            str(ORDERS),
            "--rate",
            "25",
            "--exit",
            "--check",
            "--report",
            str(report),
        ],
        env=stack_env(tmp_path, database),
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )

    # then every order ended where its kind says, and every invariant holds
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert f"{ORDERS} orders placed, {ORDERS} ended" in run.stdout
    outcomes = re.findall(r"│ (\w+)\s+│ (\w+)\s+│ (\d+)\s+│", run.stdout)
    assert sum(int(n) for _, _, n in outcomes) == ORDERS
    assert all(status in EXPECTED[kind] for kind, status, _ in outcomes), outcomes
    kinds = {"plain", "split", "out_of_stock", "declined", "backorder", "refused"}
    assert {kind for kind, _, _ in outcomes} >= kinds
    # each order to an address the carrier refuses was cancelled once its refusal showed
    refused = sum(int(n) for kind, _, n in outcomes if kind == "refused")
    assert refusals_stored(tmp_path, database) == refused
    audit = json.loads(report.read_text())["audit"]
    assert [f for f in audit["findings"] if not f["ok"]] == []
    assert len(audit["findings"]) == 8
    assert (audit["accepted"], audit["lost"], audit["duplicates"]) == (ORDERS, 0, 0)
    assert run.returncode == 0


def refusals_stored(data_dir: Path, database: str | None) -> int:
    """Parcels the carrier refused, as fulfillment's store holds them."""
    settings = Settings(data_dir=data_dir, database_url=database)
    fulfillment = resolve("fulfillment")
    assert fulfillment.application is not None
    app = fulfillment.application(store_for("fulfillment", settings).env, settings)
    try:
        stored = app.recorder.select_notifications(start=1, limit=10**6)
        return sum(1 for notification in stored if notification.topic.endswith(".Refused"))
    finally:
        app.close()
