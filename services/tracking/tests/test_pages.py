"""The web pages in headless Chromium (Debian's `chromium`, which `make browser` installs), over
the projections and tracking services run as their own processes and fed through the broker:
the customer page shows a tracked order's steps and follows it live without reloading, a wrong
postal code gets the error message, and the ops dashboard draws its charts with data. Each
page's full-page screenshot is checked and kept in var/test-artifacts/.

The read models are on SQLite here: the pages only see the API, which the API tests already run
on both stores."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from confluent_kafka import Producer
from lifecycle import lifecycle
from PIL import Image, ImageStat
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.testing import unavailable
from orderflow.runtime.testkit import publish, service_processes
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.envelope import Message
from orderflow.schemas.topics import ALL_TOPICS, topic_of

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# The machine's closed network refuses Chromium's background connections: ask for none.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts"
POSTAL_CODE = "10115"  # the lifecycle's shipping address
WAIT_MS = 30_000
NOT_ZERO = re.compile(r"^[1-9][0-9]*$")
# The read models' inbox keeps (source, position) pairs: far from the positions that services
# run by other tests publish on the same topics, and never the same twice.
_positions = itertools.count(10**15 + uuid.uuid4().int % 10**12 * 1000)


@pytest.fixture(scope="module")
def tracking_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The projection workers and the tracking service, each an `orderflow service` process,
    on a data directory of their own (no ORDERFLOW_DATABASE_URL: SQLite)."""
    ensure_topics(kafka_bootstrap, ALL_TOPICS, 3)
    data_dir = tmp_path_factory.mktemp("pages-data")
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "ORDERFLOW_CHANNEL_KEYS": json.dumps({"web": "web-key-123"}),
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)
    projections_logs = tmp_path_factory.mktemp("projections-logs")
    tracking_logs = tmp_path_factory.mktemp("tracking-logs")
    with (
        service_processes("projections", 1, env, projections_logs),
        service_processes("tracking", 1, env, tracking_logs) as urls,
    ):
        yield urls[0]


@pytest.fixture(scope="module")
def producer(kafka_bootstrap: str) -> Iterator[Producer]:
    producer = new_producer(kafka_bootstrap)
    yield producer
    producer.close()  # before the session's broker stops


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable(f"no {CHROMIUM}: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield context.new_page()
    context.close()


def test_a_tracked_order_shows_its_steps_and_follows_them_live(
    page: Page, tracking_url: str, producer: Producer
) -> None:
    # given an order the read models know up to its invoices
    order = uuid.uuid4()
    events = life_of(order)
    send(producer, events[:9])
    wait_for_status(tracking_url, order, "invoiced")

    # when its customer opens the tracking page
    page.goto(f"{tracking_url}/?order={order}&postal_code={POSTAL_CODE}")

    # then the page shows the order's steps, and follows the order
    expect(page.locator("#status")).to_have_attribute("data-status", "invoiced")
    assert step_types(page) == [event.type for event in events[:9]]
    expect(page.locator("#live.on")).to_have_count(1)

    # when the rest of its life happens while the page stays open (one status change at a
    # time: the page re-reads the order on each change of its status)
    page.evaluate("window.notReloaded = true")
    send(producer, events[9:11])  # both shipments delivered
    expect(page.locator("#status")).to_have_attribute("data-status", "delivered")
    send(producer, events[11:])  # completed

    # then the page shows each change, without being reloaded
    expect(page.locator("#status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#timeline li")).to_have_count(12)
    assert page.evaluate("window.notReloaded") is True
    assert step_types(page) == [event.type for event in events]
    expect(page.locator("#shipments a")).to_have_count(2)
    screenshot(page, "tracking-page.png")


def test_a_wrong_postal_code_shows_the_error_message(
    page: Page, tracking_url: str, producer: Producer
) -> None:
    # given a placed order
    order = uuid.uuid4()
    send(producer, life_of(order)[:1])
    wait_for_status(tracking_url, order, "placed")

    # when someone asks for it with another postal code
    page.goto(f"{tracking_url}/?order={order}&postal_code=99999")

    # then they see the error and nothing of the order
    expect(page.locator("#message.error")).to_have_text(
        "No order with this number and postal code."
    )
    expect(page.locator("#result")).to_be_hidden()
    screenshot(page, "tracking-page-wrong-postal-code.png")


def test_the_ops_dashboard_draws_its_charts_with_data(
    page: Page, tracking_url: str, producer: Producer
) -> None:
    # given a completed order
    order = uuid.uuid4()
    send(producer, life_of(order))
    wait_for_status(tracking_url, order, "completed")

    # when the dashboard opens
    page.goto(f"{tracking_url}/ops")

    # then its charts have data points, drawn as bars
    expect(page.locator("body[data-loaded=true]")).to_have_count(1)
    for chart in ("throughput", "funnel", "lead-times", "top-skus", "lag"):
        expect(page.locator(f"svg#{chart}")).to_have_attribute("data-points", NOT_ZERO)
        assert page.locator(f"svg#{chart} rect").count() > 0, chart
    placed = page.locator("svg#funnel rect").first.get_attribute("data-value")
    assert int(placed or "0") >= 1
    screenshot(page, "ops-dashboard.png")


def life_of(order: UUID) -> list[Message]:
    """The order's 12 events, the last one a few seconds from now, with positions of their own."""
    events = lifecycle(order, start=datetime.now(UTC) - timedelta(seconds=15))
    return [event.model_copy(update={"source_position": next(_positions)}) for event in events]


def send(producer: Producer, events: Sequence[Message]) -> None:
    """Each event on its topic, one after the other, as the services publish them."""
    for event in events:
        publish(producer, topic_of(event), [event])


def wait_for_status(tracking_url: str, order: UUID, status: str, timeout: float = 30) -> None:
    """Until the projection workers have brought the customer's view of `order` to `status`."""
    deadline, seen = time.monotonic() + timeout, None
    with httpx.Client(base_url=tracking_url, timeout=5) as client:
        while time.monotonic() < deadline:
            answer = client.get(f"/track/{order}", params={"postal_code": POSTAL_CODE})
            seen = answer.json().get("status") if answer.status_code == 200 else answer.status_code
            if seen == status:
                return
            time.sleep(0.2)
    pytest.fail(f"order {order} is not {status} after {timeout} s (last seen: {seen})")


def step_types(page: Page) -> list[str]:
    types: list[str] = page.locator("#timeline li").evaluate_all(
        "items => items.map((item) => item.dataset.type)"
    )
    return types


def screenshot(page: Page, name: str) -> Path:
    """The whole page as a PNG in var/test-artifacts/, checked: the viewport's width, at least
    its height, and a picture rather than a blank (many colours, not one flat tone)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=path, full_page=True)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == VIEWPORT["width"]
        assert image.height >= VIEWPORT["height"]
        colours = image.convert("RGB").getcolors(maxcolors=4096)
        assert colours is None or len(colours) > 32, f"{name}: only {len(colours)} colours"
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10, f"{name} is nearly uniform"
    return path
