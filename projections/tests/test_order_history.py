"""`orderflow stream <order-id>`: one order's events from every topic, causes before effects
even when a service's clock runs behind, each event once, no other order's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from lifecycle import lifecycle

from orderflow.runtime.history import order_history
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.testkit import publish
from orderflow.runtime.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_the_history_of_one_order_across_topics_in_causal_order(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    order, other = uuid4(), uuid4()
    events = lifecycle(order)
    created, shipped = events[3], events[5]
    # Fulfillment's clock runs 10 s behind: the shipment seems to leave before it was created.
    events[5] = shipped.model_copy(
        update={
            "causation_id": created.event_id,
            "occurred_at": created.occurred_at - timedelta(seconds=10),
        }
    )
    orders, others = unique("orders"), unique("others")
    ensure_topics(kafka_bootstrap, [orders, others], 3)
    producer = new_producer(kafka_bootstrap)
    publish(producer, orders, [e for e in events if e.source == "intake"])
    publish(producer, others, [e for e in events if e.source != "intake"])
    publish(producer, others, [events[7], *lifecycle(other)])  # a redelivery, another order

    found = order_history(kafka_bootstrap, str(order), [orders, others])

    ids = [item.event.event_id for item in found]
    assert sorted(map(str, ids)) == sorted(str(e.event_id) for e in events)  # each once, no other
    assert ids.index(events[5].event_id) == ids.index(created.event_id) + 1  # right after its cause
    assert [item.event.type for item in found][-1] == "OrderCompleted"
