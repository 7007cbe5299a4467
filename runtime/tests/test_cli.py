"""The `orderflow` command as an operator runs it: a real process, real signals."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from stack_probe import SERVICE_PORTS, ready

from orderflow.runtime import system_cli
from orderflow.runtime.broker import answers, free_port
from orderflow.runtime.console import topics_table
from orderflow.runtime.fleet import stored_services
from orderflow.runtime.processes import pids_with_argument
from orderflow.runtime.settings import Settings, variable_name
from orderflow.runtime.stack import LocalStack
from orderflow.runtime.system_cli import _said
from orderflow.runtime.topics import TopicState, describe_topics
from orderflow.schemas.topics import ALL_TOPICS

pytestmark = pytest.mark.e2e

ORDERFLOW = [sys.executable, "-m", "orderflow.runtime"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORDERFLOW, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_cli(
    *args: str, port: int, data_dir: Path, ports: dict[str, int] | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ORDERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "ORDERFLOW_DATA_DIR": str(data_dir),
        **{variable_name(name): str(number) for name, number in (ports or {}).items()},
    }
    env.pop("ORDERFLOW_DATABASE_URL", None)
    return subprocess.Popen(
        [*ORDERFLOW, *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_a_bad_setting_stops_the_command_with_exit_2_and_one_line() -> None:
    result = run_cli("topics", env={"ORDERFLOW_PARTITIONS": "abc"})

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ORDERFLOW_PARTITIONS" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("args", [[], ["0:4", "--all"]], ids=["neither", "both"])
def test_dlq_replay_needs_either_references_or_all(args: list[str]) -> None:
    # Given an operator who names no dead letter, or names some and also asks for all
    result = run_cli("dlq", "replay", *args)

    # then nothing is replayed: the command says what it takes, before reaching any broker
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "orderflow: name dead letters by partition:offset, or pass --all (not both)"
    )


def test_a_broker_that_does_not_answer_is_said_once_not_at_every_reconnect() -> None:
    # Given no broker where the command looks; when an operator asks for the topics
    result = run_cli("topics", env={"ORDERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"})

    # then it fails in one line of ours, after librdkafka's reason said once, not at each
    # of its reconnects
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("orderflow: Kafka: "), result.stderr
    assert sum("Connection refused" in line for line in lines) == 1, result.stderr
    assert len(lines) == len(set(lines)), result.stderr
    assert "Traceback" not in result.stderr


def test_topics_creates_the_missing_project_topics(kafka_bootstrap: str) -> None:
    result = run_cli("topics", env={"ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap})

    assert result.returncode == 0, result.stderr
    assert set(ALL_TOPICS) <= set(describe_topics(kafka_bootstrap))
    assert all(topic in result.stdout for topic in ALL_TOPICS)


def test_topic_names_stay_whole_beside_long_notes_on_80_columns() -> None:
    # Given every project topic with a note that needs room (kept too briefly)
    states = [TopicState(name, 6, False, 7 * 24 * 3600 * 1000) for name in ALL_TOPICS]

    # when the table is printed where output is 80 columns wide (a pipe)
    printed = io.StringIO()
    Console(file=printed, width=80).print(topics_table(states, 2, dict.fromkeys(ALL_TOPICS, 10**6)))

    # then each name is on one line, whole
    assert all(name in printed.getvalue() for name in ALL_TOPICS), printed.getvalue()


def test_the_kafka_options_reach_the_commands_clients(kafka_bootstrap: str) -> None:
    broker = {"ORDERFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap}

    plain = run_cli("topics", env={**broker, "ORDERFLOW_KAFKA_OPTIONS": '{"client.id": "ops"}'})
    # TLS to a broker that speaks plain TCP: no answer, and one line that says where to look
    tls = run_cli(
        "topics", env={**broker, "ORDERFLOW_KAFKA_OPTIONS": '{"security.protocol": "ssl"}'}
    )

    assert plain.returncode == 0, plain.stderr
    assert tls.returncode == 1
    last_line = tls.stderr.strip().splitlines()[-1]
    assert last_line.startswith("orderflow: Kafka: ")
    assert "ORDERFLOW_KAFKA_OPTIONS" in last_line
    assert "Traceback" not in tls.stderr


@pytest.mark.parametrize(
    "stop_signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["ctrl-c", "sigterm", "ctrl-c twice"],
)
def test_up_runs_the_stack_and_stops_cleanly(stop_signals: list[int], tmp_path: Path) -> None:
    port, ports = free_port(), {name: free_port() for name in SERVICE_PORTS}
    up = start_cli("up", "--refresh", "0.5", port=port, data_dir=tmp_path, ports=ports)
    bootstrap = f"127.0.0.1:{port}"
    stores = [tmp_path / f"{service}.sqlite3" for service in stored_services()]
    wait_for(lambda: all(store.exists() for store in stores) and answers(bootstrap))
    assert set(ALL_TOPICS) <= set(describe_topics(bootstrap))
    assert pids_with_argument(f"tcp://{bootstrap}"), "the embedded broker runs"
    wait_for(lambda: all(ready(number) for number in ports.values()), timeout=120)  # all up

    for stop_signal in stop_signals:  # an impatient operator presses Ctrl-C again
        up.send_signal(stop_signal)
        time.sleep(0.3)

    try:  # six services drain side by side, then the broker stops
        code = up.wait(timeout=45)
    except subprocess.TimeoutExpired:
        up.kill()
        code = None
    output = up.stdout.read() if up.stdout else ""
    assert code == 0, output[-4000:]
    assert "stopped" in output
    assert "|FAIL|" not in output, "a Kafka client outlived the broker"
    assert not pids_with_argument(f"tcp://{bootstrap}"), "no broker left behind"
    assert not any(ready(number) for number in ports.values()), "no service left behind"


def test_up_writing_to_a_log_shows_its_view_while_it_runs(tmp_path: Path) -> None:
    # Given `up` whose output goes to a pipe, as to a log file or a service manager
    up = start_cli("up", "--no-services", port=free_port(), data_dir=tmp_path)
    printed: list[str] = []
    reading = threading.Thread(target=lambda: printed.extend(up.stdout or []), daemon=True)
    reading.start()

    # when it has started, then its view is there to read before it stops, topics and all
    try:
        wait_for(lambda: any("orders.events" in line for line in printed), timeout=60)
        assert up.poll() is None, "up ended"
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=45) == 0
    reading.join(5)


def test_up_refuses_a_service_port_another_process_holds(tmp_path: Path) -> None:
    # Given intake's port held by another process (another stack's intake, say)
    port, ports = free_port(), {name: free_port() for name in SERVICE_PORTS}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports["intake_port"] = taken.getsockname()[1]

        # when the stack starts
        up = start_cli("up", "--exit", "--no-simulate", port=port, data_dir=tmp_path, ports=ports)
        code = up.wait(timeout=60)

    # then it refuses, naming the port and its setting, rather than take another's answers
    # for its own services' readiness, and leaves no broker behind
    output = up.stdout.read() if up.stdout else ""
    assert code == 1, output[-3000:]
    refusal = next(line for line in output.splitlines() if "already in use" in line)
    assert "ORDERFLOW_INTAKE_PORT" in refusal
    assert not pids_with_argument(f"tcp://127.0.0.1:{port}"), "no broker left behind"


def test_a_failed_rebuild_is_told_in_the_commands_own_words_whole() -> None:
    # Given what a refused `orderflow replay` wrote: librdkafka's lines, then ours, long
    ours = "orderflow: the rebuild lacks events the live model applied: " + "intake, " * 80
    stderr = f"%3|1.0|FAIL|rdkafka#consumer-1| connection refused\n{ours}\n"

    # when the audit says why it could not compare, then it is our line, from its start
    assert _said(stderr) == ours


def test_broker_refuses_a_port_that_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = start_cli("broker", port=taken.getsockname()[1], data_dir=tmp_path)

        assert broker.wait(timeout=30) == 1
    assert broker.stdout is not None
    assert "already in use" in broker.stdout.read()


@pytest.mark.integration
def test_the_stack_view_outlives_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    # Given a stack whose broker has stopped answering (paused, restarting, a network cut)
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    stack = LocalStack(settings, with_services=False)
    stack.topics = [TopicState("orders.events", partitions=2, created=False)]

    # when `up` draws its view, then it draws the topics with their counts unknown, rather
    # than end the stack with the broker's error
    drawn = io.StringIO()
    Console(file=drawn, width=200).print(system_cli._view(stack))
    row = next(line for line in drawn.getvalue().splitlines() if "orders.events" in line)
    assert "?" in row
