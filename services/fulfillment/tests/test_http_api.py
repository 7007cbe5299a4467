"""Fulfillment's API on both stores, the simulator off: shipments run by hand (an illegal step
is 409), and the carrier webhook: good, bad and missing signatures, and a replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fulfillment_data import cancelled, order_placed, payment_authorized, stock_reserved

from orderflow.fulfillment.api import SIGNATURE_HEADER, routes, signature
from orderflow.fulfillment.application import Fulfillment
from orderflow.fulfillment.domain import shipment_id_for
from orderflow.fulfillment.policies import HANDLERS
from orderflow.fulfillment.translate import translate
from orderflow.runtime.http import harden
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store
from orderflow.schemas.envelope import IntegrationEvent
from orderflow.schemas.fulfillment import FulfillmentStopped, ShipmentRefused

pytestmark = pytest.mark.integration
SECRET = "test-webhook-secret-0123"


@pytest.fixture
def fulfillment(
    store: Store, store_settings: Settings
) -> Iterator[tuple[TestClient, Fulfillment, UUID]]:
    settings = store_settings.model_copy(
        update={"simulate_warehouse": False, "carrier_webhook_secret": SECRET}
    )
    app, order = Fulfillment(store.env, settings), uuid4()
    apply_batch(
        app, HANDLERS, [order_placed(order), stock_reserved(order), payment_authorized(order)]
    )
    api = harden(FastAPI())
    api.include_router(routes(app, settings))
    with TestClient(api) as http:
        yield http, app, order
    app.close()


def shipped_by_hand(http: TestClient, shipment: UUID) -> dict[str, object]:
    for action in ("pick", "pack", "ship"):
        answer = http.post(f"/shipments/{shipment}/{action}")
        assert answer.status_code == 200, answer.text
    return answer.json()


def webhook(http: TestClient, body: dict[str, object], signed: str | None) -> int:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signed is not None:
        headers[SIGNATURE_HEADER] = signed
    return http.post("/carrier/webhook", content=raw, headers=headers).status_code


def test_a_person_runs_a_shipment_and_an_illegal_step_is_409(
    fulfillment: tuple[TestClient, Fulfillment, UUID],
) -> None:
    http, _, order = fulfillment
    listed = http.get(f"/orders/{order}/shipments").json()
    assert sorted(s["warehouse"] for s in listed) == ["berlin", "paris"]
    berlin = shipment_id_for(order, "berlin")

    skipped = http.post(f"/shipments/{berlin}/ship")
    done = shipped_by_hand(http, berlin)
    again = http.post(f"/shipments/{berlin}/pick")

    assert skipped.status_code == 409
    assert "created shipment cannot be shipped" in skipped.json()["detail"]
    assert done["state"] == "shipped"
    assert again.status_code == 409
    assert http.get(f"/shipments/{uuid4()}").status_code == 404


def test_the_carrier_webhook_needs_a_good_signature_and_a_replay_is_harmless(
    fulfillment: tuple[TestClient, Fulfillment, UUID],
) -> None:
    http, app, order = fulfillment
    berlin = shipment_id_for(order, "berlin")
    tracking = shipped_by_hand(http, berlin)["carrier"]["tracking_number"]  # type: ignore[index]
    news = {"reference": str(berlin), "tracking_number": tracking, "status": "delivered"}
    good = signature(SECRET, json.dumps(news).encode())

    assert webhook(http, news, None) == 401
    assert webhook(http, news, signature("some-other-secret-000", json.dumps(news).encode())) == 401
    assert webhook(http, news, good.replace("sha256=", "sha256=0")) == 401
    assert app.shipment(berlin).state == "shipped", "a refused webhook changes nothing"  # type: ignore[union-attr]

    assert webhook(http, news, good) == 200
    version = app.shipment(berlin).version  # type: ignore[union-attr]
    assert webhook(http, news, good) == 200, "a replay is accepted"
    assert app.shipment(berlin).version == version, "and changes nothing"  # type: ignore[union-attr]
    assert app.shipment(berlin).state == "delivered"  # type: ignore[union-attr]


def test_a_garbled_signature_is_401_and_garbled_news_422_never_a_500(
    fulfillment: tuple[TestClient, Fulfillment, UUID],
) -> None:
    http, _, _ = fulfillment
    news = json.dumps({"reference": str(uuid4())}).encode()
    non_ascii = {SIGNATURE_HEADER: b"sha256=\xe9", "Content-Type": "application/json"}

    assert http.post("/carrier/webhook", content=news, headers=non_ascii).status_code == 401

    nested = b"[" * 50_000 + b"]" * 50_000  # signed: the carrier's own bug, not an attacker's
    signed = {SIGNATURE_HEADER: signature(SECRET, nested), "Content-Type": "application/json"}
    answer = http.post("/carrier/webhook", content=nested, headers=signed)
    assert answer.status_code == 422
    assert "not a carrier delivery notice" in answer.json()["detail"]


def test_a_cancellation_stops_the_shipments_that_have_not_left(
    fulfillment: tuple[TestClient, Fulfillment, UUID],
) -> None:
    http, app, order = fulfillment
    shipped_by_hand(http, shipment_id_for(order, "berlin"))

    apply_batch(app, HANDLERS, [cancelled(order)])

    states = {s["warehouse"]: s["state"] for s in http.get(f"/orders/{order}/shipments").json()}
    assert states == {"berlin": "shipped", "paris": "cancelled"}
    stopped = [e for e in published(app) if isinstance(e, FulfillmentStopped)]
    assert [(e.stopped, e.went_ahead) for e in stopped] == [
        ([shipment_id_for(order, "paris")], [shipment_id_for(order, "berlin")])
    ], "it says once which shipment it stopped and which had left"


def test_a_second_cancellation_says_nothing_more(
    fulfillment: tuple[TestClient, Fulfillment, UUID],
) -> None:
    _, app, order = fulfillment
    apply_batch(app, HANDLERS, [cancelled(order)])

    apply_batch(app, HANDLERS, [cancelled(order)])

    stopped = [e for e in published(app) if isinstance(e, FulfillmentStopped)]
    assert len(stopped) == 1
    assert sorted(stopped[0].stopped) == sorted(
        [shipment_id_for(order, "berlin"), shipment_id_for(order, "paris")]
    )
    assert stopped[0].went_ahead == []


def test_a_parcel_the_carrier_refuses_is_published_as_refused(store: Store) -> None:
    # Given a paid, allocated order to a postal code the sandbox carrier does not serve
    settings = Settings(simulate_warehouse=False, carrier_webhook_secret=SECRET)
    app, order = Fulfillment(store.env, settings), uuid4()
    try:
        placed = order_placed(order, postal_code="00000")
        apply_batch(app, HANDLERS, [placed, stock_reserved(order), payment_authorized(order)])
        api = harden(FastAPI())
        api.include_router(routes(app, settings))

        # when a person ships its Berlin parcel
        with TestClient(api) as http:
            answer = shipped_by_hand(http, shipment_id_for(order, "berlin"))

        # then the parcel is an exception, and fulfillment says so once, with the reason
        reason = "no service to postal code 00000"
        assert (answer["state"], answer["problem"]) == ("exception", reason)
        refused = [e for e in published(app) if isinstance(e, ShipmentRefused)]
        assert [(e.order_id, e.shipment_id, e.warehouse, e.reason) for e in refused] == [
            (order, shipment_id_for(order, "berlin"), "berlin", reason)
        ]
        assert refused[0].correlation_id == placed.correlation_id
    finally:
        app.close()


def published(app: Fulfillment) -> list[IntegrationEvent]:
    """What the relay would publish from the service's store, in order."""
    events = []
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        event = translate(app.mapper.to_domain_event(notification), notification.id)
        if event is not None:
            events.append(event)
    return events
