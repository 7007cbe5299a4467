"""Create and describe topics on any Kafka-compatible cluster, idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from orderflow.runtime.kafka import new_admin

_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    created: bool


def describe_topics(bootstrap: str) -> dict[str, int]:
    """Partition count of every topic the cluster knows, internal ones left out."""
    metadata = _admin(bootstrap).list_topics(timeout=_TIMEOUT_S)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if not name.startswith("__")
    }


def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1
) -> list[TopicState]:
    """Create the missing topics; existing ones are left as they are.

    An existing topic keeps its partition count even when `partitions` is larger: adding
    partitions moves keys to other partitions and breaks per-order ordering, so it is an
    operator's decision (see the README), never a side effect of starting a process.
    """
    admin = _admin(bootstrap)
    wanted = list(dict.fromkeys(names))
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication) for name in wanted], request_timeout=_TIMEOUT_S
    )
    created = {name for name, future in futures.items() if _created(future.exception())}
    existing = describe_topics(bootstrap)
    return [TopicState(name, existing.get(name, 0), name in created) for name in wanted]


def _created(error: BaseException | None) -> bool:
    if error is None:
        return True
    if (
        isinstance(error, KafkaException)
        and error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    ):
        return False
    raise error


def _admin(bootstrap: str) -> AdminClient:
    return new_admin(bootstrap)
