"""What the ops dashboard shows besides the read models: consumer lag per group (committed
offsets against the topics' ends) and the dead letters. Both ask the broker, so answers are
kept for a few seconds: a dashboard polling every few seconds costs the broker little."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import Consumer, TopicPartition

from orderflow.projections.generations import live_generation
from orderflow.projections.worker import EVENT_TOPICS, PROJECTIONS, group_of
from orderflow.runtime import deadletters
from orderflow.runtime.fleet import stored_services
from orderflow.runtime.kafka import client_config
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import resolve
from orderflow.runtime.watermarks import message_counts
from orderflow.schemas.topics import DEAD_LETTERS
from orderflow.tracking.readers import ReadModels

T = TypeVar("T")
_KEEP_S = 5.0
_TIMEOUT_S = 5.0
#: Dead letters read per partition for the dashboard's latest and its reasons: the topic keeps
#: 30 days of them, and a channel sending garbage can put millions there; the count is the
#: topic's own.
NEWEST_LETTERS = 2000


class Operations:
    def __init__(
        self, settings: Settings, models: ReadModels, dead_letter_topic: str = DEAD_LETTERS
    ) -> None:
        self.bootstrap, self.models = settings.kafka_bootstrap, models
        self.dead_letter_topic = dead_letter_topic
        self._lock = threading.Lock()  # over the locks below
        self._locks: dict[str, threading.Lock] = {}
        self._kept: dict[str, tuple[int | None, float, Any]] = {}

    def groups(self) -> dict[str, Sequence[str]]:
        """Every consumer group of the system, with the topics it reads."""
        found: dict[str, Sequence[str]] = {}
        for name in stored_services():
            spec = resolve(name)
            if spec.consumes:
                found[spec.consumer_group] = spec.consumes
        for projection in PROJECTIONS:
            generation = live_generation(self.models.database, projection)
            found[group_of(projection, generation, self.models.database.name)] = EVENT_TOPICS
        return found

    def lag(self, fresh: bool = False) -> list[dict[str, Any]]:
        return self.kept_for("lag", self._read_lag, fresh=fresh)

    def dead_letters(self, fresh: bool = False) -> dict[str, Any]:
        return self.kept_for("dead_letters", self._read_dead_letters, fresh=fresh)

    def _read_lag(self) -> list[dict[str, Any]]:
        return consumer_lag(self.bootstrap, self.groups())

    def _read_dead_letters(self) -> dict[str, Any]:
        letters = deadletters.read_all(
            self.bootstrap, self.dead_letter_topic, newest=NEWEST_LETTERS
        )
        held = message_counts(self.bootstrap, [self.dead_letter_topic])[self.dead_letter_topic]
        latest = sorted(letters, key=lambda letter: letter.at, reverse=True)[:20]
        return {
            "count": max(held, len(letters)),
            "counted": len(letters),  # the newest, which the reasons and groups count
            "by_reason": dict(Counter(letter.reason for letter in letters)),
            "by_group": dict(Counter(letter.group for letter in letters)),
            "latest": [
                {
                    "ref": letter.ref,
                    "at": letter.at,
                    "group": letter.group,
                    "topic": letter.topic,
                    "reason": letter.reason,
                    "error": letter.error[:200],
                }
                for letter in latest
            ],
        }

    def kept_for(
        self,
        name: str,
        compute: Callable[[], T],
        generation: int | None = None,
        fresh: bool = False,
    ) -> T:
        """`compute`'s answer, computed again only when the one kept is over a few seconds old
        or of another read-model generation (a rebuild's swap shows at once), or when the
        asker wants it `fresh` (a script checking the system after a run): every open
        dashboard asks every few seconds, and they all share one answer. One lock per answer:
        the lead times being computed hold up no one asking for the lag."""
        asked_at = time.monotonic()
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            # `at`: when the kept answer's computing began. One begun after this asker came
            # is fresh enough for it, so askers at once share one; one begun before is not.
            kept_generation, at, value = self._kept.get(name, (None, 0.0, None))
            stale = time.monotonic() - at > _KEEP_S or kept_generation != generation
            if value is None or stale or (fresh and at < asked_at):
                began = time.monotonic()
                value = compute()
                self._kept[name] = (generation, began, value)
            return value  # type: ignore[no-any-return]


def consumer_lag(bootstrap: str, groups: dict[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Per group: messages on its topics after its committed offsets (all of a partition's
    messages where it has committed none)."""
    probe = Consumer(client_config(bootstrap, **{"group.id": f"lag-{uuid.uuid4()}"}))
    try:
        metadata = probe.list_topics(timeout=_TIMEOUT_S)
        ends: dict[tuple[str, int], tuple[int, int]] = {}
        for topic in {t for topics in groups.values() for t in topics}:
            for partition in metadata.topics[topic].partitions if topic in metadata.topics else {}:
                ends[(topic, partition)] = probe.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=_TIMEOUT_S
                )
    finally:
        probe.close()
    return [_group_lag(bootstrap, group, topics, ends) for group, topics in sorted(groups.items())]


def _group_lag(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    ends: dict[tuple[str, int], tuple[int, int]],
) -> dict[str, Any]:
    partitions = [TopicPartition(t, p) for (t, p) in ends if t in topics]
    reader = Consumer(client_config(bootstrap, **{"group.id": group}))
    try:
        committed = reader.committed(partitions, timeout=_TIMEOUT_S) if partitions else []
    finally:
        reader.close()
    lag = 0
    for found in committed:
        low, high = ends[(found.topic, found.partition)]
        lag += max(0, high - (found.offset if found.offset >= 0 else low))
    return {"group": group, "topics": list(topics), "lag": lag}
