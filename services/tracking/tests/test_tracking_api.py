"""The tracking API over read models filled from one order's events, on both stores: the
channel's view, the customer's view (order id and postal code), the status stream, and the
analytics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from lifecycle import lifecycle

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.tracking import TrackingModel
from orderflow.runtime.http import harden
from orderflow.runtime.settings import Settings
from orderflow.runtime.testing import failures_at_once
from orderflow.runtime.testkit import serving
from orderflow.schemas.billing import Invoiced
from orderflow.schemas.envelope import Message
from orderflow.tracking.api import routes
from orderflow.tracking.operations import Operations
from orderflow.tracking.readers import ReadModels

pytestmark = pytest.mark.integration
WEB = {"Authorization": "Bearer web-key-123"}
OTHER = {"Authorization": "Bearer other-key-456"}
#: The answers kept a few seconds for the dashboards: the route, the model's question, and how
#: many delivered orders an answer counts.
KEPT_ANSWERS = pytest.mark.parametrize(
    ("path", "question", "orders_in"),
    [
        ("/analytics/lead-times", "lead_times", lambda a: a["placed_to_delivered"]["count"]),
        ("/analytics/funnel", "funnel", lambda a: a["delivered"]),
    ],
    ids=["lead-times", "funnel"],
)


@pytest.fixture
def models(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[ReadModels]:
    settings = store_settings.model_copy(
        update={"channel_keys": {"web": "web-key-123", "other": "other-key-456"}}
    )
    read_models = ReadModels(settings, unique("proj")[:40])
    read_models.settings = settings  # type: ignore[attr-defined]
    yield read_models
    read_models.close()


@pytest.fixture
def client(models: ReadModels) -> Iterator[httpx.Client]:
    """The API on a real server: a client hanging up must end an endless event stream."""
    settings: Settings = models.settings  # type: ignore[attr-defined]
    api = harden(FastAPI())
    api.include_router(routes(models, Operations(settings, models), settings))
    with serving(api) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield client


def delivered_order(models: ReadModels, upto: int | None = None) -> UUID:
    """An order whose events (all, or the first `upto`) both read models have applied."""
    order = uuid4()
    for event in lifecycle(order)[:upto]:  # one by one: each a status change of its own
        models.live(TrackingModel).apply([event])
        models.live(AnalyticsModel).apply([event])
    return order


def test_the_channel_sees_its_orders_tracking(client: httpx.Client, models: ReadModels) -> None:
    order = delivered_order(models)

    answer = client.get(f"/orders/{order}/tracking", headers=WEB)

    assert answer.status_code == 200
    body = answer.json()
    assert body["order_id"] == str(order)
    assert body["status"] == "completed"
    assert [step["type"] for step in body["timeline"]][:3] == [
        "OrderPlaced",
        "StockReserved",
        "PaymentAuthorized",
    ]
    assert all(step["at"].endswith("Z") for step in body["timeline"])
    assert {s["tracking_url"] for s in body["shipments"]} == {
        "https://track.example/SB0",
        "https://track.example/SB1",
    }
    assert len(body["invoices"]) == 2


def test_orders_are_counted_per_status(client: httpx.Client, models: ReadModels) -> None:
    delivered_order(models)
    delivered_order(models, upto=3)

    counts = client.get("/analytics/statuses").json()

    assert counts == {"completed": 1, "payment_authorized": 1}


def test_another_channel_or_no_key_gets_no_tracking(
    client: httpx.Client, models: ReadModels
) -> None:
    order = delivered_order(models)

    assert client.get(f"/orders/{order}/tracking", headers=OTHER).status_code == 404
    assert client.get(f"/orders/{order}/tracking").status_code == 401
    assert client.get(f"/orders/{uuid4()}/tracking", headers=WEB).status_code == 404


def test_a_customer_needs_the_postal_code_and_sees_no_amounts(
    client: httpx.Client, models: ReadModels
) -> None:
    order = delivered_order(models)

    wrong = client.get(f"/track/{order}", params={"postal_code": "99999"})
    right = client.get(f"/track/{order}", params={"postal_code": " 10115 "})

    assert wrong.status_code == 404
    assert right.status_code == 200
    assert right.json()["status"] == "completed"
    assert "invoices" not in right.json()
    assert "total" not in right.json()


@pytest.mark.parametrize("order_id", ["%00", "a%00b", "not-an-order", "x" * 300])
def test_an_order_id_no_order_has_is_a_404_on_every_view(
    client: httpx.Client, models: ReadModels, order_id: str
) -> None:
    delivered_order(models)
    postal = {"postal_code": "10115"}

    assert client.get(f"/orders/{order_id}/tracking", headers=WEB).status_code == 404
    assert client.get(f"/track/{order_id}", params=postal).status_code == 404
    assert client.get(f"/track/{order_id}/stream", params=postal).status_code == 404


def test_the_customer_stream_replays_the_orders_status_changes(
    client: httpx.Client, models: ReadModels
) -> None:
    order = delivered_order(models, upto=3)  # placed, reserved, paid

    with client.stream("GET", f"/track/{order}/stream", params={"postal_code": "10115"}) as sse:
        statuses = read_statuses(sse.iter_lines(), count=3)

    assert statuses == ["placed", "stock_reserved", "payment_authorized"]


def test_the_channel_stream_starts_now_and_resumes_after_the_last_event_id(
    client: httpx.Client, models: ReadModels
) -> None:
    # Given an order tracked before the channel connects
    delivered_order(models, upto=1)
    later = uuid4()

    def place_and_reserve() -> None:
        for event in lifecycle(later)[:2]:
            models.live(TrackingModel).apply([event])

    # when it connects and another order is placed and reserved meanwhile,
    with client.stream("GET", "/tracking/stream", headers=WEB) as sse:
        soon(place_and_reserve)
        first_two = read_identified(sse.iter_lines(), count=2)

    # then it gets that order's two updates, not the earlier one,
    assert [data["order_id"] for _, data in first_two] == [str(later)] * 2
    assert [data["status"] for _, data in first_two] == ["placed", "stock_reserved"]

    # and reconnecting after the first gets the second.
    resume = {**WEB, "Last-Event-ID": first_two[0][0]}
    with client.stream("GET", "/tracking/stream", headers=resume) as sse:
        assert read_identified(sse.iter_lines(), count=1) == first_two[1:]


@pytest.mark.parametrize(
    ("path", "replayed"),
    [("/tracking/stream", []), ("/track/{order}/stream", ["placed", "stock_reserved"])],
    ids=["channel", "customer"],
)
def test_a_reconnection_naming_a_replaced_generation_is_not_left_waiting(
    client: httpx.Client, models: ReadModels, path: str, replayed: list[str]
) -> None:
    # Given an order with two updates, and a page whose last id is of a generation a rebuild
    # has since replaced (its numbers far above the new generation's)
    order = delivered_order(models, upto=2)
    stale = {**WEB, "Last-Event-ID": "7.600"}
    url = path.format(order=order)
    params = {"postal_code": "10115"}

    # when it reconnects and the order is paid meanwhile,
    with client.stream("GET", url, headers=stale, params=params) as sse:
        soon(lambda: models.live(TrackingModel).apply([lifecycle(order)[2]]))
        seen = read_identified(sse.iter_lines(), count=len(replayed) + 1)

    # then it gets the update (a customer's page its order's steps first), each id naming the
    # live generation
    assert [data["status"] for _, data in seen] == [*replayed, "payment_authorized"]
    assert all(event_id.startswith("1.") for event_id, _ in seen)


@pytest.mark.parametrize(
    "last_id",
    [b"\xb2", b"1.\xb9", b"99999999999999999999999", b"1.99999999999999999999999", b"1.999999"],
    ids=["superscript", "superscript seq", "huge", "huge seq", "past the newest"],
)
def test_a_last_event_id_the_feed_never_gave_streams_from_the_newest_update(
    client: httpx.Client, models: ReadModels, last_id: bytes
) -> None:
    # Given an order with an update, and a page whose last id is none this feed gave
    order = delivered_order(models, upto=1)
    garbled = {"Authorization": WEB["Authorization"], "Last-Event-ID": last_id}

    # when it reconnects and the order is reserved meanwhile,
    with client.stream("GET", "/tracking/stream", headers=garbled) as sse:
        assert sse.status_code == 200
        soon(lambda: models.live(TrackingModel).apply([lifecycle(order)[1]]))
        seen = read_identified(sse.iter_lines(), count=1)

    # then it gets that update, not an error or a wait for ids that will not come
    assert [data["status"] for _, data in seen] == ["stock_reserved"]


def soon(action: Callable[[], object]) -> None:
    """Run `action` a moment from now, while the test reads the stream it opened."""
    threading.Timer(0.5, action).start()


def test_analytics_count_the_order_once_however_often_it_arrives(
    client: httpx.Client, models: ReadModels
) -> None:
    order = uuid4()
    events = lifecycle(order)
    analytics = models.live(AnalyticsModel)
    analytics.apply(events)
    analytics.apply(list(reversed(events)))  # redelivered, in another order

    funnel = client.get("/analytics/funnel").json()
    by_sku = client.get("/analytics/sales", params={"by": "sku"}).json()
    by_channel = client.get("/analytics/sales", params={"by": "channel"}).json()
    lead = client.get("/analytics/lead-times").json()

    assert funnel["placed"] == 1
    assert funnel["delivered"] == 1
    assert funnel["rejected"] == 0
    assert by_sku == [{"sku": "SKU-1", "currency": "EUR", "units": 2, "revenue": "39.98"}]
    assert by_channel == [{"channel": "web", "currency": "EUR", "units": 2, "revenue": "39.98"}]
    assert lead["placed_to_shipped"] == {"count": 1, "p50_s": 5.0, "p95_s": 5.0, "p99_s": 5.0}
    assert lead["placed_to_invoiced"]["p99_s"] == 7.0
    assert lead["placed_to_delivered"]["p50_s"] == 10.0
    window = {"minutes": 5, "until": "2026-11-26T10:04:59Z"}
    assert client.get("/analytics/throughput", params=window).json() == [
        {
            "minute": "2026-11-26T10:00",
            "channel": "web",
            "currency": "EUR",
            "orders": 1,
            "revenue": "39.98",
        }
    ]


def test_sales_rank_by_units_or_newest_day_never_by_sums_across_currencies(
    client: httpx.Client, models: ReadModels
) -> None:
    # Given 3 units sold for 4500 yen on one day, 7 for 70.00 euros on the next, and 1 for
    # 10.00 euros on the day after
    analytics = models.live(AnalyticsModel)
    analytics.apply(
        [
            invoiced("SKU-YEN", 3, "4500", "JPY", "2026-11-26"),
            invoiced("SKU-EUR", 7, "70.00", "EUR", "2026-11-27"),
            invoiced("SKU-ONE", 1, "10.00", "EUR", "2026-11-28"),
        ]
    )

    def keys(by: str) -> list[str]:
        answer = client.get("/analytics/sales", params={"by": by, "limit": 1})
        return [row[by] for row in answer.json()]

    # when the top SKU and the latest day are asked for, then the one sold most and the
    # newest: neither the biggest amount nor the most units
    assert keys("sku") == ["SKU-EUR"]
    assert keys("day") == ["2026-11-28"]


def invoiced(sku: str, quantity: int, gross: str, currency: str, day: str) -> Message:
    """An invoice of one untaxed line, for an order of its own."""
    template = next(e for e in lifecycle(uuid4()) if isinstance(e, Invoiced))
    money = {"amount": gross, "currency": currency}
    nothing = {"amount": "0", "currency": currency}
    line = {"description": sku, "sku": sku, "quantity": quantity, "tax_rate": "0"}
    return Invoiced.model_validate_json(  # strict: as read off a topic, from JSON
        json.dumps(
            {
                **template.model_dump(mode="json"),
                "event_id": str(uuid4()),
                "lines": [{**line, "net": money, "tax": nothing, "gross": money}],
                "taxes": [{"rate": "0", "net": money, "tax": nothing}],
                "net": money,
                "tax": nothing,
                "gross": money,
                "issued_on": day,
            }
        )
    )


def test_throughput_is_the_window_up_to_the_moment_asked_so_an_outage_shows(
    client: httpx.Client, models: ReadModels
) -> None:
    # Given orders placed at 10:00 and at 10:02, and none since
    analytics = models.live(AnalyticsModel)
    for minute in (0, 2):
        start = datetime(2026, 11, 26, 10, minute, tzinfo=UTC)
        analytics.apply(lifecycle(uuid4(), start=start)[:1])

    def minutes(**window: object) -> list[str]:
        answer = client.get("/analytics/throughput", params=window)
        assert answer.status_code == 200, answer.text
        return [row["minute"] for row in answer.json()]

    # when windows are asked for, then each holds the minutes with orders up to its end only
    assert minutes(minutes=3, until="2026-11-26T10:02:30Z") == [
        "2026-11-26T10:00",
        "2026-11-26T10:02",
    ]
    assert minutes(minutes=2, until="2026-11-26T10:02:30+00:00") == ["2026-11-26T10:02"]
    assert minutes(minutes=3, until="2026-11-26T10:09:00Z") == [], "the quiet minutes since"
    assert minutes() == [], "an hour up to now, long after"
    # and a moment without its zone is refused, not read in the server's
    assert (
        client.get("/analytics/throughput", params={"until": "2026-11-26T10:02"}).status_code == 422
    )


@KEPT_ANSWERS
def test_dashboards_asking_at_once_and_again_share_one_answer_for_a_few_seconds(
    client: httpx.Client,
    models: ReadModels,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    question: str,
    orders_in: Callable[[dict[str, Any]], int],
) -> None:
    # Given a delivered order, and a model that counts how often it is asked
    analytics = models.live(AnalyticsModel)
    analytics.apply(lifecycle(uuid4()))
    asked = counted(monkeypatch, question)

    # when eight dashboards ask at once, and again after another order was delivered,
    answers: list[dict[str, Any]] = []
    assert failures_at_once(lambda: answers.append(client.get(path).json())) == []
    analytics.apply(lifecycle(uuid4()))
    again = client.get(path).json()

    # then the model was asked once, and all of them got its answer, without the new order;
    assert asked == [question]
    assert [orders_in(answer) for answer in [*answers, again]] == [1] * 9

    # and a few seconds later the answer is asked for again and has it.
    deadline = time.monotonic() + 15
    while orders_in(client.get(path).json()) == 1 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert orders_in(client.get(path).json()) == 2
    assert asked == [question, question]


@KEPT_ANSWERS
def test_an_asker_wanting_no_cache_gets_an_answer_computed_now(
    client: httpx.Client,
    models: ReadModels,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    question: str,
    orders_in: Callable[[dict[str, Any]], int],
) -> None:
    # Given an answer kept for the dashboards, and another order delivered since
    analytics = models.live(AnalyticsModel)
    analytics.apply(lifecycle(uuid4()))
    asked = counted(monkeypatch, question)
    kept = client.get(path).json()
    analytics.apply(lifecycle(uuid4()))

    # when a script asks with Cache-Control: no-cache,
    fresh = client.get(path, headers={"Cache-Control": "max-age=0, No-Cache"}).json()

    # then its answer has the new order, computed for it, and is the one kept from then on
    assert [orders_in(kept), orders_in(fresh)] == [1, 2]
    assert asked == [question, question]
    assert orders_in(client.get(path).json()) == 2
    assert asked == [question, question]


def test_a_kept_answer_of_a_replaced_generation_is_computed_again(models: ReadModels) -> None:
    operations = Operations(models.settings, models)  # type: ignore[attr-defined]
    computed: list[int] = []

    def funnel(generation: int) -> int:
        def compute() -> int:
            computed.append(generation)
            return generation

        return operations.kept_for("funnel", compute, generation)

    assert [funnel(1), funnel(1), funnel(2), funnel(2)] == [1, 1, 2, 2]
    assert computed == [1, 2], "once per generation, within the few seconds kept"


def test_an_answer_being_computed_holds_up_no_other(models: ReadModels) -> None:
    # Given the lead times being computed, and not done until released
    operations = Operations(models.settings, models)  # type: ignore[attr-defined]
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(30)
        return "lead times"

    computing = threading.Thread(target=operations.kept_for, args=("lead_times", slow))
    computing.start()
    assert started.wait(5)

    # when the lag is asked meanwhile,
    lag: list[str] = []
    asking = threading.Thread(target=lambda: lag.append(operations.kept_for("lag", lambda: "x")))
    asking.start()
    asking.join(5)
    answered_meanwhile = not asking.is_alive()
    release.set()
    computing.join()
    asking.join()

    # then it was answered while the lead times were still being computed
    assert answered_meanwhile
    assert lag == ["x"]


def counted(monkeypatch: pytest.MonkeyPatch, question: str) -> list[str]:
    """Each time the analytics model answers `question` from the database."""
    asked: list[str] = []
    answer = getattr(AnalyticsModel, question)

    def counting(model: AnalyticsModel) -> Any:
        asked.append(question)
        return answer(model)

    monkeypatch.setattr(AnalyticsModel, question, counting)
    return asked


def read_events(lines: Iterator[str], count: int) -> list[dict[str, object]]:
    """The first `count` events of a stream; fewer if none comes for a while (the stream
    sends a keep-alive line every few seconds, so the loop gets to look at the clock)."""
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("data: "):
            found.append(json.loads(line.removeprefix("data: ")))
            if len(found) == count:
                break
    return found


def read_statuses(lines: Iterator[str], count: int) -> list[object]:
    return [event["status"] for event in read_events(lines, count)]


def read_identified(lines: Iterator[str], count: int) -> list[tuple[str, dict[str, object]]]:
    """The first `count` events of a stream with their ids."""
    found: list[tuple[str, dict[str, object]]] = []
    event_id, deadline = "", time.monotonic() + 30
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line.startswith("data: "):
            found.append((event_id, json.loads(line.removeprefix("data: "))))
            if len(found) == count:
                break
    return found
