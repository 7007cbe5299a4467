"""Live tracking pages at scale, on both stores: one reader of the feed per process tells the
open streams which of them have news, so a page whose order does not change does not read the
feed (but once per keep-alive), and the page whose order changes gets its update, even after
the reader failed once. The keep-alive is pushed past the test, so only a ring delivers."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from lifecycle import lifecycle

from orderflow.projections.tracking import TrackingModel
from orderflow.runtime.http import harden
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import serving
from orderflow.tracking import stream
from orderflow.tracking.api import routes
from orderflow.tracking.operations import Operations
from orderflow.tracking.readers import ReadModels

pytestmark = pytest.mark.integration
PAGES = 20
IDLE_S = 3.0  # six polls of a stream that read the feed itself twice a second


@pytest.fixture(autouse=True)
def no_keep_alive_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE_S", 120.0)


@pytest.fixture
def models(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[ReadModels]:
    read_models = ReadModels(store_settings, unique("live")[:40])
    yield read_models
    read_models.close()


@pytest.fixture
def url(models: ReadModels, store_settings: Settings) -> Iterator[str]:
    api = harden(FastAPI())
    api.include_router(routes(models, Operations(store_settings, models), store_settings))
    with serving(api) as served:
        yield served


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often streams read the feed, per order: the real query, counted."""
    counted: Counter[str] = Counter()
    read = TrackingModel.changes

    def counting(model: TrackingModel, after: int, **which: Any) -> list[dict[str, Any]]:
        counted[str(which.get("order_id") or which.get("channel"))] += 1
        return read(model, after, **which)

    monkeypatch.setattr(TrackingModel, "changes", counting)
    return counted


def test_idle_pages_cost_no_reads_and_the_changed_order_gets_its_update(
    models: ReadModels, url: str, reads: Counter[str]
) -> None:
    # Given twenty customers watching the pages of their placed orders
    orders = [uuid4() for _ in range(PAGES)]
    for order in orders:
        models.live(TrackingModel).apply([lifecycle(order)[0]])

    # when the pages stay open a while, then one order's stock is reserved,
    seen, idle_reads = asyncio.run(watch(url, models, orders, reads))

    # then each page read the feed about once while nothing changed (it read it six times
    # when every stream polled), and the reserved order's page got its update, the others none
    assert idle_reads <= 2 * PAGES, f"{idle_reads} reads by {PAGES} idle pages"
    assert seen[orders[0]] == ["placed", "stock_reserved"]
    assert all(seen[order] == ["placed"] for order in orders[1:])
    assert reads[str(orders[0])] >= 2


def test_a_page_gets_its_update_after_the_feed_reader_failed(
    models: ReadModels, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a page open on a placed order, and a feed reader whose next look fails
    orders = [uuid4()]
    models.live(TrackingModel).apply([lifecycle(orders[0])[0]])
    look = TrackingModel.touched
    failures = [ConnectionError("the database is away for a moment")]

    def failing_once(model: TrackingModel, after: int, limit: int = 5000) -> Any:
        if failures:
            raise failures.pop()
        return look(model, after, limit)

    monkeypatch.setattr(TrackingModel, "touched", failing_once)

    # when the order's stock is reserved, then the page still shows it
    seen, _ = asyncio.run(watch(url, models, orders, Counter()))
    assert not failures, "the reader did fail"
    assert seen[orders[0]] == ["placed", "stock_reserved"]


async def watch(
    url: str, models: ReadModels, orders: list[UUID], reads: Counter[str]
) -> tuple[dict[UUID, list[str]], int]:
    seen: dict[UUID, list[str]] = {order: [] for order in orders}
    limits = httpx.Limits(max_connections=PAGES + 5)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        pages = [asyncio.create_task(_page(http, order, seen[order])) for order in orders]
        await _until(lambda: all(seen.values()), "every page shows its order")
        await asyncio.sleep(IDLE_S)
        idle_reads = sum(reads.values())
        reserved = lifecycle(orders[0])[1]
        await asyncio.to_thread(models.live(TrackingModel).apply, [reserved])
        await _until(lambda: len(seen[orders[0]]) == 2, "the reserved order's page updates")
        await asyncio.sleep(1.0)  # time for a wrong page to show something too
        for page in pages:
            page.cancel()
        await asyncio.gather(*pages, return_exceptions=True)
    return seen, idle_reads


async def _page(http: httpx.AsyncClient, order: UUID, statuses: list[str]) -> None:
    params = {"postal_code": "10115"}
    async with http.stream("GET", f"/track/{order}/stream", params=params) as sse:
        async for line in sse.aiter_lines():
            if line.startswith("data: "):
                statuses.append(json.loads(line.removeprefix("data: "))["status"])


async def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"not so: {what}"
        await asyncio.sleep(0.05)
