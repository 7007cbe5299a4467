"""The HTTP rules every service's API keeps, on a bare app: a database or broker away for a
moment answers 503 with a retry hint, anything else stays a 500."""

from __future__ import annotations

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orderflow.runtime.http import harden

pytestmark = pytest.mark.unit


def client_raising(error: Exception) -> TestClient:
    api = harden(FastAPI())

    @api.get("/orders")
    def orders() -> None:
        raise error

    return TestClient(api, raise_server_exceptions=False)


def test_a_database_that_dropped_the_connection_is_a_503_to_retry() -> None:
    client = client_raising(psycopg.OperationalError("the connection is lost"))

    answer = client.get("/orders")

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert "try again" in answer.json()["detail"]


def test_a_bug_is_still_a_500() -> None:
    client = client_raising(KeyError("oops"))

    answer = client.get("/orders")

    assert answer.status_code == 500
