"""The ops dashboard's dead letters, against a real broker: the count is the topic's own, and
the latest and their reasons come from each partition's newest letters only, so a flood of
them (a channel sending garbage, kept 30 days) is never read whole every few seconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics
from orderflow.tracking import operations
from orderflow.tracking.operations import Operations
from orderflow.tracking.readers import ReadModels

pytestmark = pytest.mark.integration
START = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_board_counts_every_letter_and_shows_the_newest(
    kafka_bootstrap: str,
    store_settings: Settings,
    unique: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a dead-letter topic holding 15 older letters and then 10 newer ones, and a board
    # that reads the newest 10 of each partition
    topic = unique("dlq")
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    letters = [("garbage", n) for n in range(15)] + [("unknown_type", n) for n in range(15, 25)]
    publish_letters(kafka_bootstrap, topic, letters)
    monkeypatch.setattr(operations, "NEWEST_LETTERS", 10)
    settings = store_settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    models = ReadModels(settings, unique("board")[:40])

    # when the dashboard asks,
    board = Operations(settings, models, dead_letter_topic=topic).dead_letters()
    models.close()

    # then the count is all 25, the reasons those of the newest 10, the latest newest first
    assert (board["count"], board["counted"]) == (25, 10)
    assert board["by_reason"] == {"unknown_type": 10}
    assert [row["at"] for row in board["latest"]][:2] == [at(24), at(23)]


def publish_letters(bootstrap: str, topic: str, letters: list[tuple[str, int]]) -> None:
    """One batch each: the embedded broker gives a partition's end as the start of its last
    batch plus one (a real Kafka counts every record)."""
    producer = new_producer(bootstrap)
    for reason, n in letters:
        headers = [("dlq_reason", reason.encode()), ("dlq_group", b"g"), ("dlq_at", at(n).encode())]
        producer.produce(topic, value=b"{}", headers=headers)
        assert producer.flush(10) == 0


def at(n: int) -> str:
    return (START + timedelta(seconds=n)).isoformat()
