"""Inventory's API on both stores: warehouses, receipts, adjustments, policy, stock queries, and
bad input as a 4xx that says what is wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from inventory_data import authorized, order_placed, received

from orderflow.inventory.policies import HANDLERS
from orderflow.inventory.service import SERVICE
from orderflow.runtime.host import ServiceHost
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def http(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[TestClient]:
    host = ServiceHost(dataclasses.replace(SERVICE, name=unique("inv")), store_settings)
    with TestClient(host.http_app()) as client:
        yield client
    host.app.close()


def test_the_configured_warehouses_are_listed(http: TestClient) -> None:
    listed = http.get("/warehouses").json()
    assert [(w["id"], w["priority"], w["country"]) for w in listed] == [
        ("berlin", 1, "DE"),
        ("paris", 2, "FR"),
    ]


def test_a_receipt_adds_stock_once_per_reference(http: TestClient) -> None:
    receipt = {"warehouse": "berlin", "quantity": 100, "reference": "DN-1"}

    first = http.post("/stock/SKU-001/receipts", json=receipt)
    again = http.post("/stock/SKU-001/receipts", json=receipt)

    assert first.status_code == again.status_code == 200
    stock = http.get("/stock/SKU-001").json()
    berlin = next(w for w in stock["warehouses"] if w["warehouse"] == "berlin")
    assert (berlin["on_hand"], berlin["available"], stock["available"]) == (100, 100, 100)


def test_a_different_receipt_under_a_used_reference_is_409_not_dropped(
    http: TestClient,
) -> None:
    http.post(
        "/stock/SKU-003/receipts",
        json={"warehouse": "berlin", "quantity": 10, "reference": "DN-77"},
    )

    other = {"warehouse": "paris", "quantity": 500, "reference": "DN-77"}
    answer = http.post("/stock/SKU-003/receipts", json=other)

    assert answer.status_code == 409
    assert "'DN-77' received 10 into berlin, not 500 into paris" in answer.json()["detail"]
    assert http.get("/stock/SKU-003").json()["available"] == 10, "nothing more was recorded"


@pytest.mark.parametrize(
    ("receipt", "status", "says"),
    [
        ({"warehouse": "atlantis", "quantity": 1}, 422, "unknown warehouse 'atlantis'"),
        ({"warehouse": "berlin", "quantity": -5}, 422, "greater than or equal to 1"),
        ({"warehouse": "berlin", "quantity": 0}, 422, "greater than or equal to 1"),
        ({"warehouse": "berlin"}, 422, "Field required"),
        # more than one StockReceived event can carry: it could never be published
        ({"warehouse": "berlin", "quantity": 10_001}, 422, "less than or equal to 10000"),
    ],
    ids=["unknown warehouse", "negative", "zero", "no quantity", "beyond the contract"],
)
def test_a_bad_receipt_is_refused_with_a_reason(
    http: TestClient, receipt: dict[str, object], status: int, says: str
) -> None:
    answer = http.post("/stock/SKU-001/receipts", json=receipt)
    assert answer.status_code == status
    assert says in answer.text
    assert http.get("/stock/SKU-001").status_code == 404, "nothing was recorded"


def test_adjustments_carry_a_reason_and_cannot_go_below_zero(http: TestClient) -> None:
    http.post("/stock/SKU-002/receipts", json={"warehouse": "paris", "quantity": 10})

    counted = http.post(
        "/stock/SKU-002/adjustments",
        json={"warehouse": "paris", "delta": -3, "reason": "cycle_count", "note": "shelf B4"},
    )
    too_many = http.post(
        "/stock/SKU-002/adjustments", json={"warehouse": "paris", "delta": -8, "reason": "damaged"}
    )
    no_reason = http.post("/stock/SKU-002/adjustments", json={"warehouse": "paris", "delta": 1})

    assert counted.status_code == 200
    assert too_many.status_code == 409
    assert "on hand cannot become -1" in too_many.json()["detail"]
    assert no_reason.status_code == 422
    assert http.get("/stock/SKU-002").json()["available"] == 7


def test_skus_below_their_threshold_are_listed(http: TestClient) -> None:
    http.post("/stock/SKU-LOW/receipts", json={"warehouse": "berlin", "quantity": 2})
    http.post("/stock/SKU-OK/receipts", json={"warehouse": "berlin", "quantity": 50})
    policy = http.put(
        "/stock/SKU-OK/policy", json={"low_stock_threshold": 60, "allow_backorder": True}
    )

    low = http.get("/stock", params={"below_threshold": "true"}).json()["skus"]
    every = http.get("/stock").json()["skus"]

    assert policy.json()["allow_backorder"] is True
    assert sorted(s["sku"] for s in low) == ["SKU-LOW", "SKU-OK"]
    assert sorted(s["sku"] for s in every) == ["SKU-LOW", "SKU-OK"]
    http.put("/stock/SKU-OK/policy", json={"low_stock_threshold": 10, "allow_backorder": False})
    low = http.get("/stock", params={"below_threshold": "true"}).json()["skus"]
    assert [s["sku"] for s in low] == ["SKU-LOW"]


def test_a_reservation_shows_its_expiry_only_while_it_can_lapse(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given an order's reservation of stock on hand, held until its payment is authorised
    host = ServiceHost(dataclasses.replace(SERVICE, name=unique("inv")), store_settings)
    order = uuid4()
    apply_batch(host.app, HANDLERS, [received("SKU-001", "berlin", 5)])
    apply_batch(host.app, HANDLERS, [order_placed(order, {"SKU-001": 2})])
    with TestClient(host.http_app()) as http:
        held = http.get(f"/reservations/{order}").json()

        # when the payment is authorised
        apply_batch(host.app, HANDLERS, [authorized(order)])
        kept = http.get(f"/reservations/{order}").json()
    host.app.close()

    # then the held reservation showed when it would lapse, and the authorised one shows none
    assert (held["state"], held["expires_at"] is not None) == ("held", True)
    assert (kept["state"], kept["expires_at"]) == ("authorized", None)
    assert kept["allocations"] == held["allocations"]
