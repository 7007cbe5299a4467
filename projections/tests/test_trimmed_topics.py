"""A rebuild reads the topics from their start: it refuses topics whose oldest events the broker
has deleted, rather than swap in a read model without those orders."""

from __future__ import annotations

import pytest

from orderflow.projections.replay import RebuildFailed, refuse_trimmed


def test_topics_that_start_at_offset_zero_are_rebuilt_from() -> None:
    refuse_trimmed({("orders.events", 0): (0, 500), ("billing.events", 1): (0, 0)})


def test_a_topic_the_broker_trimmed_is_refused_with_the_way_to_recover() -> None:
    # Given a partition whose first 120 events the broker deleted
    found = {("orders.events", 0): (120, 500), ("orders.events", 1): (0, 400)}

    # when a rebuild checks the topics, then it refuses, naming where and what to do
    with pytest.raises(RebuildFailed) as refused:
        refuse_trimmed(found)

    reason = str(refused.value)
    assert "orders.events partition 0 from offset 120" in reason
    assert "partition 1" not in reason
    assert "orderflow republish" in reason
    assert "--allow-trimmed" in reason
