"""Fifty requests with one Idempotency-Key at the same moment, to a real HTTP server: one order,
one answer for all, on both stores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from intake_api import api_of, intake_host, key
from intake_data import body

from orderflow.intake.application import Intake
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import serving

pytestmark = pytest.mark.integration
REQUESTS = 50


@pytest.fixture
def server(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[tuple[str, Intake]]:
    api, app = api_of(intake_host(store_settings, unique))
    with serving(api) as url:
        yield url, app
    app.close()


def test_fifty_concurrent_requests_with_one_key_place_one_order(
    server: tuple[str, Intake],
) -> None:
    url, app = server
    start = threading.Barrier(REQUESTS)

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as client:
            start.wait()
            return client.post("/orders", json=body("race-1"), headers=key("race"))

    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(submit, range(REQUESTS)))

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["order_id"] for answer in answers}) == 1
    stored = app.recorder.select_notifications(start=1, limit=1000)
    assert len(stored) == 2, "one Placed event and one idempotency record"
