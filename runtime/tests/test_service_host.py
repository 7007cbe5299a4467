"""`orderflow service` as an operator runs it: health, readiness, metrics, JSON logs, and a
SIGTERM that drains and exits 0 within 10 seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import ledger_service as ledger
import pytest
from fastapi.testclient import TestClient
from feed import publish, publish_events, stock_received
from processes import ledger_process, references, wait_for

from orderflow.runtime import deadletters
from orderflow.runtime.broker import free_port
from orderflow.runtime.host import ServiceHost
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics

pytestmark = pytest.mark.e2e


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_a_service_is_not_ready_until_its_consumer_has_joined_the_group(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # given a service that consumes, its API up but its consumer loop not started
    settings = store_settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    host = ServiceHost(ledger.spec(unique("ledger"), unique("in"), unique("group")), settings)

    # when a probe asks whether it is ready
    answer = TestClient(host.http_app()).get("/readyz")

    # then it is not, and the answer names the consumer (orders placed now would wait)
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert (checks["broker"], checks["store"]) == ("ok", "ok")
    assert checks["consumer"] == "RuntimeError: the consumer has not joined its group yet"


def test_the_consumer_batches_wait_as_long_as_the_settings_say(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # given a service set to let its batches wait 7 ms to fill
    topic = unique("in")
    ensure_topics(kafka_bootstrap, [topic], 1)
    settings = store_settings.model_copy(
        update={"kafka_bootstrap": kafka_bootstrap, "consumer_linger_ms": 7}
    )
    host = ServiceHost(ledger.spec(unique("ledger"), topic, unique("group")), settings)

    # when its consumer loop starts
    consumer = threading.Thread(target=host._run_consumer, daemon=True)
    consumer.start()
    try:
        wait_for(lambda: host._loop is not None, 30, "the consumer loop")

        # then its batches wait 7 ms
        assert host._loop is not None
        assert host._loop.linger_s == 0.007
    finally:
        host.stop()
        consumer.join(15)


def test_a_service_serves_health_and_metrics_and_stops_on_sigterm(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    topic, name, port = unique("in"), unique("ledger"), free_port()
    ensure_topics(kafka_bootstrap, [topic], 3)
    service = ledger_process(
        name, topic, unique("group"), store_settings, kafka_bootstrap, tmp_path, port=port
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, 60, "the API")
        producer = new_producer(kafka_bootstrap)
        publish(producer, topic, range(1, 301))
        refused = stock_received(301).model_copy(update={"reference": "refuse-me"})
        publish_events(producer, topic, [refused])
        wait_for(lambda: len(references(name, store_settings)) == 300, 90, "300 effects")
        wait_for(lambda: "handler refused event" in service.log(), 30, "the refusal")

        ready_status, ready = get(f"{base}/readyz")
        _, metrics = get(f"{base}/metrics")
    finally:
        started = time.monotonic()
        code = service.stop(timeout=15)
        stopped_in = time.monotonic() - started

    assert ready_status == 200
    assert json.loads(ready) == {
        "status": "ready",
        "checks": {"store": "ok", "broker": "ok", "consumer": "ok"},
    }
    assert f'orderflow_events_consumed_total{{topic="{topic}"}} 301.0' in metrics
    assert (
        f'orderflow_events_dead_lettered_total{{reason="handler_failed",topic="{topic}"}} 1.0'
        in metrics
    )
    assert "orderflow_handler_seconds_bucket" in metrics
    for check in ("store", "broker", "consumer"):
        assert f'orderflow_ready{{check="{check}"}} 1.0' in metrics
    assert code == 0
    assert stopped_in < 10
    logged = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    assert {"service started", "service stopped"} <= {entry["event"] for entry in logged}
    [refusal] = [entry for entry in logged if entry["event"] == "handler refused event"]
    assert refusal["event_id"] == str(refused.event_id)
    assert refusal["correlation_id"] == str(refused.correlation_id)
    assert refusal["service"] == "ledger_service:SERVICE"


def test_a_burst_of_signals_stops_a_service_as_one_does(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    # given a running service
    topic, port = unique("in"), free_port()
    ensure_topics(kafka_bootstrap, [topic], 3)
    service = ledger_process(
        unique("ledger"),
        topic,
        unique("group"),
        store_settings,
        kafka_bootstrap,
        tmp_path,
        port=port,
    ).start()
    wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 60, "the API")
    assert service.process is not None

    # when it gets many stop signals at once (Ctrl-C reaches the whole process group while
    # `orderflow up` sends SIGTERM too; a killed parent's death signal comes on top)
    started = time.monotonic()
    try:
        for number in range(200):
            service.process.send_signal(signal.SIGINT if number % 2 else signal.SIGTERM)

        # then it drains and exits 0 within 10 s, as after one
        code = service.stop(timeout=15)
    finally:
        service.process.kill()  # no hung process left behind should it fail
    assert code == 0
    assert time.monotonic() - started < 10


def test_dead_letters_can_be_listed_shown_and_replayed(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    topic, group = unique("in"), unique("group")
    ensure_topics(kafka_bootstrap, [topic], 3)
    service = ledger_process(
        unique("ledger"), topic, group, store_settings, kafka_bootstrap, tmp_path
    ).start()
    refused = stock_received(1).model_copy(update={"reference": "refuse-me"})
    env = {"ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap}
    try:
        publish_events(new_producer(kafka_bootstrap), topic, [refused])
        wait_for(lambda: len(letters_of(kafka_bootstrap, group)) == 1, 90, "a dead letter")
        [letter] = letters_of(kafka_bootstrap, group)

        listed = run_cli("dlq", "list", "--group", group, env=env)
        shown = run_cli("dlq", "show", letter.ref, env=env)
        replayed = run_cli("dlq", "replay", letter.ref, env=env)
        wait_for(lambda: len(letters_of(kafka_bootstrap, group)) == 2, 90, "the replay")
    finally:
        service.stop()

    assert listed.returncode == 0
    assert letter.ref in listed.stdout
    assert "handler_failed" in listed.stdout
    assert "refuses references named refuse-me" in shown.stdout
    assert str(refused.event_id) in shown.stdout
    assert "replayed 1 messages from 1 dead letters" in replayed.stdout
    assert run_cli("dlq", "show", "99:99", env=env).returncode == 2


def letters_of(bootstrap: str, group: str) -> list[deadletters.DeadLetter]:
    return [letter for letter in deadletters.read_all(bootstrap) if letter.group == group]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # a wide terminal, so rich does not fold the table's cells
    return subprocess.run(
        [sys.executable, "-m", "orderflow.runtime", *args],
        env={**os.environ, "COLUMNS": "250", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
