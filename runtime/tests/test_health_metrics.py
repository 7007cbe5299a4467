"""`/metrics` carries what `/readyz` answers, one `orderflow_ready` series per check: a process
that retries a lost broker or store stays up and scrapeable, so the alerts see it there."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orderflow.runtime.health import health_routes

pytestmark = pytest.mark.unit


def test_each_readiness_check_is_a_gauge_on_metrics() -> None:
    # Given a process whose store answers and whose broker does not
    broker_down = True

    def broker() -> None:
        if broker_down:
            raise ConnectionError("broker unreachable")

    app = FastAPI()
    app.include_router(health_routes({"store": lambda: None}, fresh={"broker_now": broker}))
    client = TestClient(app)

    # when Prometheus scrapes it, then the broker's check reads 0 and the store's 1
    scraped = client.get("/metrics").text
    assert 'orderflow_ready{check="broker_now"} 0.0' in scraped
    assert 'orderflow_ready{check="store"} 1.0' in scraped
    assert client.get("/readyz").status_code == 503

    # when the broker answers again, the next scrape says so
    broker_down = False
    assert 'orderflow_ready{check="broker_now"} 1.0' in client.get("/metrics").text


def test_a_check_that_does_not_answer_makes_the_probes_unready_rather_than_wait() -> None:
    # Given a process whose store does not answer (a database that is down holds a request
    # for a connection for the pool's whole 5 s)
    answers = threading.Event()

    def store() -> None:
        answers.wait(30)

    app = FastAPI()
    app.include_router(health_routes({"store": store}))
    client = TestClient(app)

    # when the probe and Prometheus ask, then both answer while the check still waits
    probed, scraped = client.get("/readyz"), client.get("/metrics").text
    assert not answers.is_set(), "answered before the check did"
    assert probed.status_code == 503
    assert probed.json()["checks"]["store"] == "no answer within 2 s"
    assert 'orderflow_ready{check="store"} 0.0' in scraped

    # when the store answers again, the next probe is ready
    answers.set()
    assert client.get("/readyz").status_code == 200
