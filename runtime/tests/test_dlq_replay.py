"""`orderflow dlq replay` sends a message back once, however many consumer groups
dead-lettered it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from feed import stock_received
from relays import published

from orderflow.runtime.deadletters import DeadLetter, replay
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.codec import encode
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration


def letter(topic: str, group: str, event: StockReceived, offset: int) -> DeadLetter:
    encoded = encode(event)
    return DeadLetter(
        partition=0,
        offset=offset,
        key=encoded.key,
        value=encoded.value,
        headers=encoded.headers,
        reason="handler_failed",
        error="refused",
        field=None,
        group=group,
        topic=topic,
        source_partition=1,
        source_offset=41,
        at="2026-12-07T06:00:00Z",
    )


def test_a_message_dead_lettered_by_two_groups_is_replayed_once(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given one message of a topic that two consumer groups each dead-lettered
    topic = unique("in")
    ensure_topics(kafka_bootstrap, [topic], 2)
    event = stock_received(7)
    letters = [
        letter(topic, "orderflow.billing", event, 3),
        letter(topic, "orderflow.inventory", event, 4),
    ]

    # when every dead letter is replayed
    count = replay(kafka_bootstrap, letters)

    # then the message went back once: each group reads it once more, not once per group
    assert count == 1
    # (both would be on the topic by now: replay returns once the broker has confirmed them)
    again = published(kafka_bootstrap, topic, lambda got: len(got) >= 1)
    assert [e.reference for e in again] == [event.reference]
