"""Create and describe topics on any Kafka-compatible cluster, idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, NewTopic

from orderflow.runtime.kafka import admin_client
from orderflow.schemas.topics import DEAD_LETTERS

_TIMEOUT_S = 10.0
#: Topics keep their events for good: `orderflow replay` rebuilds a read model from the start of
#: the topics, and a broker's default retention (7 days on Kafka) would delete the older orders
#: from under it. Dead letters wait 30 days for someone to look at them.
KEEP_FOREVER = -1
DEAD_LETTERS_KEPT_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    created: bool
    retention_ms: int | None = None  # as the broker has it; None: it did not say

    @property
    def kept_too_briefly(self) -> bool:
        """An event topic the broker deletes from: a replay would rebuild without the oldest."""
        wanted = retention_ms(self.name)
        return self.retention_ms is not None and wanted == KEEP_FOREVER != self.retention_ms


def retention_ms(topic: str) -> int:
    """How long a topic created here keeps its messages (`retention.ms`)."""
    return DEAD_LETTERS_KEPT_MS if topic == DEAD_LETTERS else KEEP_FOREVER


def describe_topics(bootstrap: str) -> dict[str, int]:
    """Partition count of every topic the cluster knows, internal ones left out."""
    with admin_client(bootstrap) as admin:
        metadata = admin.list_topics(timeout=_TIMEOUT_S)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if not name.startswith("__")
    }


def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1
) -> list[TopicState]:
    """Create the missing topics, kept as `retention_ms` says; existing ones are left as they
    are, and their states say how long the broker keeps them.

    An existing topic keeps its partition count even when `partitions` is larger: adding
    partitions moves keys to other partitions and breaks per-order ordering, so it is an
    operator's decision (see the README), never a side effect of starting a process.
    """
    wanted = list(dict.fromkeys(names))
    with admin_client(bootstrap) as admin:
        futures = admin.create_topics(
            [NewTopic(name, partitions, replication, config=_config_of(name)) for name in wanted],
            request_timeout=_TIMEOUT_S,
        )
        created = {name for name, future in futures.items() if _created(future.exception())}
    existing, kept = describe_topics(bootstrap), retentions(bootstrap, wanted)
    return [
        TopicState(name, existing.get(name, 0), name in created, kept.get(name)) for name in wanted
    ]


def _config_of(topic: str) -> dict[str, str]:
    return {"retention.ms": str(retention_ms(topic))}


def retentions(bootstrap: str, names: list[str]) -> dict[str, int]:
    """Each topic's `retention.ms` as the broker has it; a topic it will not describe (no
    permission on a managed cluster, say) is left out rather than failing the command."""
    if not names:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    found = {}
    with admin_client(bootstrap) as admin:  # held until the answers are in: its end fails them
        described = admin.describe_configs(resources, request_timeout=_TIMEOUT_S)
        for resource, future in described.items():
            try:
                entry = future.result().get("retention.ms")
            except KafkaException:
                continue
            if entry is not None and entry.value is not None:
                found[resource.name] = int(entry.value)
    return found


def _created(error: BaseException | None) -> bool:
    if error is None:
        return True
    if (
        isinstance(error, KafkaException)
        and error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    ):
        return False
    raise error
