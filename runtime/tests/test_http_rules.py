"""The HTTP rules every service's API keeps, on a bare app: a database or broker away for a
moment answers 503 with a retry hint, anything else stays a 500; an input the contracts refuse
is a 422 naming its field whatever it holds; a body over the limit is a 413, however sent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.types import Message, Receive, Scope, Send

from orderflow.runtime.datastore import StoreUnavailable
from orderflow.runtime.http import MAX_BODY_BYTES, BodyLimit, harden
from orderflow.schemas.money import Money

pytestmark = pytest.mark.unit


def client_raising(error: Exception) -> TestClient:
    api = harden(FastAPI())

    @api.get("/orders")
    def orders() -> None:
        raise error

    return TestClient(api, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("the connection is lost"),
        StoreUnavailable("PostgreSQL gave no connection: couldn't get a connection after 5 sec"),
    ],
    ids=["connection lost", "no connection to be had"],
)
def test_a_database_that_dropped_the_connection_is_a_503_to_retry(error: Exception) -> None:
    client = client_raising(error)

    answer = client.get("/orders")

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert "try again" in answer.json()["detail"]


def test_a_bug_is_still_a_500() -> None:
    client = client_raising(KeyError("oops"))

    answer = client.get("/orders")

    assert answer.status_code == 500


class Receipt(BaseModel):
    reference: str = Field(max_length=20)
    quantity: int = Field(ge=1, le=1000)
    price: Money


def receipts() -> TestClient:
    api = harden(FastAPI())

    @api.post("/receipts")
    def receive(receipt: Receipt) -> dict[str, str]:
        return {"reference": receipt.reference}

    return TestClient(api, raise_server_exceptions=False)


def receipt_body(**fields: object) -> dict[str, object]:
    return {
        "reference": "DN-1",
        "quantity": 3,
        "price": {"amount": "19.99", "currency": "EUR"},
        **fields,
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (json.dumps(receipt_body(price={"amount": "1e999999999", "currency": "EUR"})), "price"),
        (json.dumps(receipt_body(price={"amount": "sNaN", "currency": "EUR"})), "price"),
        ('{"reference": "DN-1", "quantity": NaN, "price": {}}', "quantity"),
        ('{"reference": "DN-1", "quantity": 1e999, "price": {}}', "quantity"),
        ('{"reference": "DN-1", "quantity": 1' + "0" * 4000 + ', "price": {}}', "quantity"),
        ('{"reference": "\\ud800' + "x" * 30 + '", "quantity": 1, "price": {}}', "reference"),
    ],
    ids=["huge exponent", "signalling NaN", "NaN", "infinity", "4000 digits", "lone surrogate"],
)
def test_an_input_json_cannot_show_as_it_came_is_still_a_422_naming_its_field(
    raw: str, field: str
) -> None:
    started = time.monotonic()

    answer = receipts().post("/receipts", content=raw, headers={"content-type": "application/json"})

    assert answer.status_code == 422, answer.text
    assert field in {problem["loc"][1] for problem in answer.json()["detail"]}
    assert time.monotonic() - started < 5, "the answer must not cost the service its CPU"


def test_a_body_sent_in_chunks_past_the_limit_is_a_413() -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reference": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    answer = receipts().post(
        "/receipts", content=chunks(), headers={"content-type": "application/json"}
    )

    assert answer.status_code == 413
    assert "larger than 256 KiB" in answer.json()["detail"]


def test_a_body_sent_in_chunks_within_the_limit_reaches_the_route() -> None:
    body = json.dumps(receipt_body()).encode()

    answer = receipts().post(
        "/receipts",
        content=iter([body[:10], body[10:]]),
        headers={"content-type": "application/json"},
    )

    assert answer.status_code == 200
    assert answer.json() == {"reference": "DN-1"}


def test_a_body_arriving_in_many_messages_reaches_the_route_whole() -> None:
    # Given a body the server hands over in five parts, as a chunked upload arrives
    body = json.dumps(receipt_body()).encode()
    parts = [body[i : i + 20] for i in range(0, len(body), 20)]
    messages = [
        {"type": "http.request", "body": part, "more_body": n < len(parts) - 1}
        for n, part in enumerate(parts)
    ]

    # when the app behind the body limit reads it
    seen = asyncio.run(_through_body_limit(messages, limit=MAX_BODY_BYTES))

    # then it gets it whole, in one message, and what the client sends after (a disconnect)
    assert seen == [body, "http.disconnect"]


def test_a_body_past_the_limit_in_many_messages_is_a_413_before_the_route() -> None:
    messages = [{"type": "http.request", "body": b"x" * 100, "more_body": True}] * 5

    sent = asyncio.run(_refused(messages, limit=250))

    assert sent[0]["status"] == 413


async def _through_body_limit(messages: list[dict[str, object]], limit: int) -> list[object]:
    """What an app behind the limit receives: each body, then the type of what is not one."""
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while not seen or seen[-1] != "http.disconnect":
            message = await receive()
            seen.append(message["body"] if message["type"] == "http.request" else message["type"])

    pending = [*messages, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return pending.pop(0)

    async def send(_: Message) -> None:
        return None

    await BodyLimit(app, limit)(_SCOPE, receive, send)
    return seen


async def _refused(messages: list[dict[str, object]], limit: int) -> list[Message]:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the route must not start")

    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await BodyLimit(app, limit)(_SCOPE, receive, send)
    return sent


_SCOPE: Scope = {"type": "http", "method": "POST", "path": "/receipts", "headers": []}
