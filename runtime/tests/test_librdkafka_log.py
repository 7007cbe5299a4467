"""librdkafka's own lines go through `logging` (a service writes them as JSON), and a line
said again and again while the broker is down is said once a minute."""

from __future__ import annotations

import logging

import pytest

from orderflow.runtime.broker import free_port
from orderflow.runtime.kafka import LIBRDKAFKA_LOG, HeldBackRepeats, new_consumer

pytestmark = pytest.mark.unit


def said(text: str, client: str = "rdkafka#consumer-1") -> logging.LogRecord:
    """A record as confluent-kafka logs it: facility, client name, text."""
    args = ("FAIL", client, text)
    return logging.LogRecord("orderflow.kafka", logging.ERROR, "", 0, "%s [%s] %s", args, None)


def test_a_line_said_again_within_the_window_is_held_back_even_from_another_client() -> None:
    # Given a filter with a one-minute window, on a clock of our own
    now = [0.0]
    held = HeldBackRepeats(window_s=60.0, clock=lambda: now[0])
    refused = "127.0.0.1:9/bootstrap: Connect failed: Connection refused"

    # when the same line comes three times in a second, the last from another client,
    first = held.filter(said(refused))
    now[0] = 0.5
    again = held.filter(said(refused))
    other_client = held.filter(said(refused, client="rdkafka#producer-2"))

    # then only the first passes, while a different line still does
    assert (first, again, other_client) == (True, False, False)
    assert held.filter(said("1/1 brokers are down"))

    # and once the window is over, the line is said again
    now[0] = 61.0
    assert held.filter(said(refused))


def test_lines_past_the_most_remembered_pass_and_the_remembered_are_still_held() -> None:
    # Given a filter that has remembered as many distinct lines as it will
    held = HeldBackRepeats(window_s=60.0, clock=lambda: 0.0)
    assert all(held.filter(said(f"debug line {n}")) for n in range(held.MOST))

    # when a new line comes twice, and a remembered one again,
    new_twice = [held.filter(said("one line too many")) for _ in range(2)]
    remembered = held.filter(said("debug line 7"))

    # then the new line passes each time, unremembered, and the remembered one is held back
    assert new_twice == [True, True]
    assert remembered is False


def test_a_window_later_the_lines_are_forgotten_and_new_ones_remembered_again() -> None:
    # Given a full filter; when a window has passed
    now = [0.0]
    held = HeldBackRepeats(window_s=60.0, clock=lambda: now[0])
    for n in range(held.MOST):
        held.filter(said(f"debug line {n}"))
    now[0] = 61.0

    # then a new line is remembered again: its repeat is held back
    assert held.filter(said("after the window"))
    assert not held.filter(said("after the window"))


def test_a_client_with_no_broker_logs_through_logging_once_per_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a consumer of a broker nobody listens for
    consumer = new_consumer(f"127.0.0.1:{free_port()}", "nobody-home")
    consumer.subscribe(["anything"])

    # when it polls for two seconds, reconnecting all the while
    with caplog.at_level(logging.INFO, logger=LIBRDKAFKA_LOG.name):
        for _ in range(20):
            consumer.poll(0.1)
    consumer.close()

    # then what it said came through logging, each line once
    lines = [r.getMessage() for r in caplog.records if r.name == LIBRDKAFKA_LOG.name]
    assert any("Connection refused" in line for line in lines), lines
    assert len(lines) == len(set(lines)), lines
