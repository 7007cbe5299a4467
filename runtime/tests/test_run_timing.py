"""A run's time is the system's: the watcher's own look at every order (order intake lists
them a page at a time, seconds for thousands) is not counted in the orders per second."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, cast

import pytest

from orderflow.runtime.system_cli import _await_the_end

pytestmark = pytest.mark.unit


class EndedRun:
    """A run's orders, all ended, as order intake lists them; notes when the listing ran."""

    def __init__(self, orders: int) -> None:
        self.placed = [object()] * orders
        self.listed: list[tuple[float, float]] = []

    def statuses(self) -> Counter[str]:
        began = time.monotonic()
        statuses = Counter({"completed": len(self.placed)})
        self.listed.append((began, time.monotonic()))
        return statuses


class NoServices:
    def __init__(self) -> None:
        self.services: list[Any] = []


def test_a_run_ends_when_the_look_that_found_every_order_ended_began() -> None:
    # Given a run whose 3 orders have all ended, as the read models already count
    run = EndedRun(3)

    # When the end is awaited
    statuses, ended_at = _await_the_end(
        cast(Any, run), timeout=10, stack=cast(Any, NoServices()), progress=lambda: 3
    )

    # Then the statuses are intake's, and the end is when that listing began, not finished
    assert statuses == Counter({"completed": 3})
    assert len(run.listed) == 1
    began, _ = run.listed[0]
    assert ended_at <= began
