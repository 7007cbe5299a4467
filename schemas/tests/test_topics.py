"""Topic names are a public contract: stable, unique, and valid Kafka names."""

import re

import pytest

from orderflow.schemas import topics

pytestmark = pytest.mark.unit

KAFKA_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def test_every_topic_is_listed_once_with_a_valid_name() -> None:
    constants = {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}

    assert set(topics.ALL_TOPICS) == constants
    assert len(topics.ALL_TOPICS) == len(set(topics.ALL_TOPICS))
    assert all(KAFKA_TOPIC_NAME.match(name) for name in topics.ALL_TOPICS)


def test_the_documented_names_do_not_change() -> None:
    assert topics.ORDER_EVENTS == "orders.events"
    assert topics.CHANNEL_ORDERS == "channel.orders"
    assert topics.DEAD_LETTERS == "orderflow.dead-letters"
