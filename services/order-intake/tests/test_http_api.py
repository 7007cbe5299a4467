"""POST /orders and friends, on both stores: authentication, validation, idempotency, channel
scoping, listing and cancellation. Nothing invalid reaches the store."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from intake_api import MARKETPLACE, WEB, api_of, intake_host, key
from intake_data import body

from orderflow.intake.application import Intake
from orderflow.runtime.settings import Settings

pytestmark = pytest.mark.integration

Client = tuple[TestClient, Intake]


@pytest.fixture
def client(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[Client]:
    api, app = api_of(intake_host(store_settings, unique))
    with TestClient(api) as test_client:
        yield test_client, app
    app.close()


def stored(app: Intake) -> int:
    return app.recorder.max_notification_id() or 0


def test_a_valid_order_is_accepted_and_can_be_read_back(client: Client) -> None:
    http, _ = client

    answer = http.post("/orders", json=body("web-1"), headers=key(1))

    assert answer.status_code == 202
    order_id = answer.json()["order_id"]
    assert answer.json()["status"] == "placed"
    assert answer.headers["Location"] == f"/orders/{order_id}"
    order = http.get(f"/orders/{order_id}", headers=WEB).json()
    assert order["total"] == {"amount": "49.88", "currency": "EUR"}
    assert order["external_id"] == "web-1"


def test_the_same_key_and_body_get_the_same_answer(client: Client) -> None:
    http, app = client
    first = http.post("/orders", json=body("web-2"), headers=key(2))

    again = http.post("/orders", json=body("web-2"), headers=key(2))

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert stored(app) == 2, "one order and one idempotency record"


def test_the_same_key_with_another_body_is_a_conflict(client: Client) -> None:
    http, _ = client
    http.post("/orders", json=body("web-3"), headers=key(3))

    answer = http.post(
        "/orders", json=body("web-3", payment={"token": "tok_other"}), headers=key(3)
    )

    assert answer.status_code == 409
    assert "Idempotency-Key" in answer.json()["detail"]


def test_the_same_external_id_under_another_key_is_the_same_order(client: Client) -> None:
    http, _ = client
    first = http.post("/orders", json=body("web-4"), headers=key("4a"))

    again = http.post("/orders", json=body("web-4"), headers=key("4b"))
    changed = http.post("/orders", json=body("web-4", lines=body()["lines"][:1]), headers=key("4c"))

    assert again.json()["order_id"] == first.json()["order_id"]
    assert changed.status_code == 409
    assert "external_id" in changed.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Idempotency-Key": "k"}, 401),
        ({"Idempotency-Key": "k", "Authorization": "Bearer nope"}, 401),
    ],
    ids=["missing key", "wrong key"],
)
def test_a_missing_or_wrong_api_key_is_401(
    client: Client, headers: dict[str, str], status: int
) -> None:
    http, app = client
    answer = http.post("/orders", json=body(), headers=headers)
    assert answer.status_code == status
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert stored(app) == 0


def test_another_channels_order_is_not_found(client: Client) -> None:
    http, _ = client
    order_id = http.post("/orders", json=body("web-5"), headers=key(5)).json()["order_id"]

    assert http.get(f"/orders/{order_id}", headers=MARKETPLACE).status_code == 404
    assert http.post(f"/orders/{order_id}/cancel", headers=MARKETPLACE).status_code == 404
    assert http.get(f"/orders/{uuid4()}", headers=WEB).status_code == 404


def test_a_channel_finds_its_order_by_its_own_external_id(client: Client) -> None:
    # Given an order the web channel placed as web-6
    http, _ = client
    order_id = http.post("/orders", json=body("web-6"), headers=key(6)).json()["order_id"]

    # when the channel looks it up by its external id, then it gets the order; another channel,
    # or an external id never placed, gets 404
    found = http.get("/orders/external/web-6", headers=WEB)
    assert (found.status_code, found.json()["order_id"]) == (200, order_id)
    assert http.get("/orders/external/web-6", headers=MARKETPLACE).status_code == 404
    assert http.get("/orders/external/web-404", headers=WEB).status_code == 404


def lines_with(**change: object) -> list[dict[str, object]]:
    return [{**body()["lines"][0], **change}]


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (body(lines=[]), "lines"),
        (body(lines=lines_with(quantity=0)), "lines.0.quantity"),
        (body(lines=lines_with(quantity=10_001)), "lines.0.quantity"),
        (body(lines=lines_with(sku="no spaces")), "lines.0.sku"),
        (body(lines=lines_with(unit_price={"amount": "1.999", "currency": "EUR"})), "unit_price"),
        (body(lines=lines_with(unit_price={"amount": 19.99, "currency": "EUR"})), "amount"),
        (body(lines=lines_with(unit_price={"amount": "-1", "currency": "EUR"})), "amount"),
        (body(lines=lines_with(unit_price={"amount": "1", "currency": "USD"})), "body"),
        (body(customer={"id": "c", "email": "not-an-email", "name": "A"}), "customer.email"),
        (body(shipping_address={**body()["shipping_address"], "city": "x" * 201}), "city"),
        (
            body(shipping_address={**body()["shipping_address"], "postal_code": "10\x0015"}),
            "address",
        ),
        (body(colour="blue"), "colour"),
        (body(lines=body()["lines"] * 2), "lines"),
        (body(lines=lines_with(sku="Shipping")), "lines"),
        (
            body(
                lines=lines_with(
                    quantity=2, unit_price={"amount": "999999999999.99", "currency": "EUR"}
                )
            ),
            "body",
        ),
    ],
    ids=[
        "no lines",
        "zero quantity",
        "quantity too large",
        "bad sku",
        "sub-cent price",
        "float price",
        "negative price",
        "two currencies",
        "bad email",
        "long city",
        "NUL in postal code",
        "unknown field",
        "repeated sku",
        "sku named like the fee",
        "total over 10^12",
    ],
)
def test_invalid_orders_are_422_naming_the_field_and_never_stored(
    client: Client, request_body: dict[str, object], field: str
) -> None:
    http, app = client

    answer = http.post("/orders", json=request_body, headers=key(uuid4()))

    assert answer.status_code == 422
    paths = [".".join(str(p) for p in problem["loc"]) for problem in answer.json()["detail"]]
    assert any(field in path for path in paths), paths
    assert stored(app) == 0


def test_malformed_json_is_400(client: Client) -> None:
    http, app = client
    answer = http.post(
        "/orders",
        content=b'{"external_id": ',
        headers={**key(6), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "malformed JSON" in answer.json()["detail"]
    assert stored(app) == 0


def test_a_body_over_256_kib_is_413(client: Client) -> None:
    http, app = client
    huge = json.dumps(body(padding="x" * (256 * 1024))).encode()
    answer = http.post(
        "/orders", content=huge, headers={**key(7), "Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert stored(app) == 0


def test_a_missing_idempotency_key_is_refused(client: Client) -> None:
    http, app = client
    answer = http.post("/orders", json=body(), headers=WEB)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert stored(app) == 0


def test_orders_are_listed_newest_first_by_status_and_page(client: Client) -> None:
    http, _ = client
    ids = [
        http.post("/orders", json=body(f"page-{n}"), headers=key(f"p{n}")).json()["order_id"]
        for n in range(5)
    ]
    http.post(f"/orders/{ids[0]}/cancel", headers=WEB)

    pages, cursor = [], None
    while not pages or cursor:
        params = {"status": "placed", "limit": 2, **({"cursor": cursor} if cursor else {})}
        pages.append(http.get("/orders", params=params, headers=WEB).json())
        cursor = pages[-1]["next_cursor"]

    assert [len(page["orders"]) for page in pages] == [2, 2]
    listed = [order["order_id"] for page in pages for order in page["orders"]]
    assert listed == list(reversed(ids[1:]))
    cancelled = http.get("/orders", params={"status": "cancelled"}, headers=WEB).json()
    assert [o["order_id"] for o in cancelled["orders"]] == [ids[0]]
    assert http.get("/orders", headers=MARKETPLACE).json()["orders"] == []
    assert http.get("/orders", params={"cursor": "garbage"}, headers=WEB).status_code == 400
    for created in (2**63, -1, 10**23):  # past what a store's 64-bit time holds
        forged = base64.urlsafe_b64encode(f"{created}:{uuid4()}".encode()).decode()
        assert http.get("/orders", params={"cursor": forged}, headers=WEB).status_code == 400


def test_cancelling_an_open_order_cancels_it_once(client: Client) -> None:
    http, _ = client
    order_id = http.post("/orders", json=body("web-8"), headers=key(8)).json()["order_id"]

    answer = http.post(
        f"/orders/{order_id}/cancel", json={"detail": "changed my mind"}, headers=WEB
    )
    again = http.post(f"/orders/{order_id}/cancel", headers=WEB)

    assert answer.status_code == again.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["reasons"] == [
        {"code": "customer_request", "message": "changed my mind", "field": None}
    ]
