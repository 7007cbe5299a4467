"""Requests at the same moment, to a real HTTP server, on both stores: fifty with one
Idempotency-Key place one order with one answer for all; a crowd of different ones, stored
together, each get the answer they would get alone; more than intake can queue are turned away
at once with a retry hint."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import httpx
import pytest
from intake_api import api_of, intake_host, key
from intake_data import body, submission

from orderflow.intake import submissions
from orderflow.intake.application import Answer, Conflict, Intake
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import serving
from orderflow.schemas.money import Money

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


def post_at_once(
    url: str, requests: list[tuple[dict[str, object], dict[str, str]]]
) -> list[httpx.Response]:
    start = threading.Barrier(len(requests))

    def post(request: tuple[dict[str, object], dict[str, str]]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as client:
            start.wait()
            return client.post("/orders", json=request[0], headers=request[1])

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(post, requests))


def test_a_crowd_of_requests_is_answered_as_each_would_be_alone(server: tuple[str, Intake]) -> None:
    # Given an order placed earlier,
    url, app = server
    with httpx.Client(base_url=url, timeout=30) as client:
        earlier = client.post("/orders", json=body("early-1"), headers=key("early")).json()

    # when new orders, a retry of the earlier one and a reuse of its key arrive at once,
    crowd = [(body(f"new-{n}"), key(f"new-{n}")) for n in range(28)]
    crowd += [(body("early-1"), key("early")), (body("other-1"), key("early"))]
    answers = post_at_once(url, crowd)

    # then each new order is placed once, the retry gets the earlier answer, the reuse a 409,
    assert [answer.status_code for answer in answers] == [202] * 29 + [409]
    assert len({answer.json()["order_id"] for answer in answers[:28]}) == 28
    assert answers[28].json() == earlier
    # and the store holds each order and its key once.
    assert len(app.recorder.select_notifications(start=1, limit=1000)) == 2 * 29


def test_a_lot_the_store_refuses_is_placed_request_by_request(server: tuple[str, Intake]) -> None:
    # Given one lot holding two requests for one order (a twin) between two others,
    _, app = server
    lot = [(submission(f"lot-{n}"), f"key-{n}") for n in (1, 2)]
    lot.insert(1, (submission("lot-1"), "key-twin"))
    lot.append(
        (
            submission("lot-3", customer={"id": "c-7", "email": "b@example.com", "name": "Bea"}),
            "key-1",
        )
    )

    # when it is saved, the store refuses it as a whole, so each goes again on its own:
    outcomes = app.submit_all(lot)

    first = outcomes[0]
    assert isinstance(first, Answer)
    assert first.status_code == 202
    assert outcomes[1] == first, "the twin is the same order, answered the same"
    assert isinstance(outcomes[2], Answer)
    assert outcomes[2].body["external_id"] == "lot-2"
    assert isinstance(outcomes[3], Conflict), "key-1 was used with another body"


def test_a_request_that_cannot_be_placed_fails_alone_not_its_lot(
    server: tuple[str, Intake],
) -> None:
    # Given a lot in which one submission cannot be placed (its total is past what an amount
    # holds; made without the contract's checks, which now refuse it at the door)
    _, app = server
    unpayable = submission("lot-big").model_copy(
        update={"shipping_fee": Money.of("1000000000000", "EUR")}
    )
    lot = [(submission("lot-a"), "key-a"), (unpayable, "key-big"), (submission("lot-b"), "key-b")]

    # when it is saved,
    outcomes = app.submit_all(lot)

    # then that request fails, and the others are placed and stored.
    assert isinstance(outcomes[1], ValueError)
    placed = [outcome for outcome in (outcomes[0], outcomes[2]) if isinstance(outcome, Answer)]
    assert [answer.status_code for answer in placed] == [202, 202]
    assert len(app.recorder.select_notifications(start=1, limit=1000)) == 2 * 2


def test_requests_past_what_intake_can_queue_are_turned_away_with_503(
    server: tuple[str, Intake], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given intake busy storing one lot, with room for three requests to wait behind it
    url, _ = server
    monkeypatch.setattr(submissions, "MAX_WAITING", 3)
    storing, release = threading.Event(), threading.Event()
    store_lot = Intake.submit_all

    def slow_store(app: Intake, requests: Any) -> Any:
        storing.set()
        release.wait(30)
        return store_lot(app, requests)

    monkeypatch.setattr(Intake, "submit_all", slow_store)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(post_one, url, "busy-0")
        assert storing.wait(10)

        # when five more arrive meanwhile,
        others = [pool.submit(post_one, url, f"busy-{n}") for n in range(1, 6)]
        refused = [o.result(10) for o in _done_first(others, count=2)]
        release.set()
        answers = [first.result(30), *[o.result(30) for o in others]]

    # then two are turned away at once with a retry hint, and the rest are placed
    assert sorted(a.status_code for a in answers) == [202] * 4 + [503] * 2
    assert all(a.status_code == 503 and a.headers["retry-after"] == "1" for a in refused)
    assert "try again" in refused[0].json()["detail"]


def post_one(url: str, external_id: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.post("/orders", json=body(external_id), headers=key(external_id))


def _done_first(futures: list[Future[httpx.Response]], count: int) -> list[Future[httpx.Response]]:
    """The first `count` futures to finish (the turned-away: the rest wait for the store)."""
    done: list[Future[httpx.Response]] = []
    for future in as_completed(futures, timeout=10):
        done.append(future)
        if len(done) == count:
            return done
    return done
