"""`orderflow republish <service>`: publish a service's stored events to Kafka again, from a
notification id on, for when a topic was lost or cut short. It is the service's own relay,
rewound and run to the end under a name of its own, so the live relay's position is left as it
was. Every consumer absorbs the copies it has already applied (the inbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orderflow.runtime.kafka import new_producer
from orderflow.runtime.relay import Relay
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import ServiceSpec
from orderflow.runtime.store import store_for

#: How long the broker has to answer before anything is read (confluent-kafka's KafkaException).
BROKER_WAIT_S = 10.0


def republish(
    spec: ServiceSpec,
    settings: Settings,
    first: int = 1,
    on_batch: Callable[[int, int], None] | None = None,
    broker_wait_s: float = BROKER_WAIT_S,
) -> int:
    """Publish notifications `first`.. of `spec`'s store; calls on_batch(read, last id) as it
    goes and answers how many notifications were read."""
    if spec.application is None or spec.translate is None:
        raise ValueError(f"{spec.name} publishes no events")
    store = store_for(spec.name, settings)
    app = spec.application(store.env, settings)
    try:
        last = app.recorder.max_notification_id() or 0
        if not last:
            raise ValueError(
                f"{spec.name}'s store at {store.location} holds no events: is it the service's"
                " (ORDERFLOW_DATA_DIR, or ORDERFLOW_DATABASE_URL)?"
            )
        if first > last:
            raise ValueError(
                f"{spec.name}'s store holds notifications 1 to {last}: --from {first} is past them"
            )
        producer = new_producer(settings.kafka_bootstrap)
        # a broker away fails here, at once: a first batch would wait out its delivery timeout
        # (30 s) behind a progress bar already full
        producer.list_topics(timeout=broker_wait_s)
        extra: dict[str, Any] = {"topic_for": spec.topic_for} if spec.topic_for else {}
        relay = Relay(app, spec.translate, producer, "republish", **extra)
        relay.rewind(first)
        read = 0
        while batch := relay.publish_next():
            read += batch
            if on_batch is not None:
                on_batch(read, last)
        return read
    finally:
        app.close()
