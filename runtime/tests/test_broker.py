"""The broker fixture is a real Kafka-protocol broker: messages go in and come back out."""

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic
from rich.console import Console

from orderflow.runtime.broker import EmbeddedBroker
from orderflow.runtime.console import broker_cpu, stack_view, topics_table
from orderflow.runtime.kafka import admin_client
from orderflow.runtime.processes import CpuMeter
from orderflow.runtime.settings import Settings
from orderflow.runtime.stack import LocalStack
from orderflow.runtime.topics import describe_topics, ensure_topics
from orderflow.schemas.topics import DEAD_LETTERS

WEEK_MS = 7 * 24 * 3600 * 1000  # Kafka's default retention

pytestmark = pytest.mark.integration


def test_messages_produced_are_consumed_in_key_order(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic = unique("roundtrip")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = [(f"order-{i % 4}", f"event-{i}") for i in range(40)]

    for key, value in sent:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0

    received = _consume(kafka_bootstrap, topic, unique("group"), expected=len(sent))
    assert sorted(received) == sorted(sent)
    for key in {key for key, _ in sent}:
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


def test_topics_are_created_once_with_the_configured_partitions(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    names = [unique("a"), unique("b")]

    first = ensure_topics(kafka_bootstrap, names, partitions=4)
    second = ensure_topics(kafka_bootstrap, names, partitions=8)

    assert [(s.partitions, s.created) for s in first] == [(4, True), (4, True)]
    assert [(s.partitions, s.created) for s in second] == [(4, False), (4, False)]
    assert {name: describe_topics(kafka_bootstrap)[name] for name in names} == dict.fromkeys(
        names, 4
    )


def test_event_topics_are_kept_for_good_and_dead_letters_for_30_days(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    events = unique("events")

    states = ensure_topics(kafka_bootstrap, [events, DEAD_LETTERS], partitions=2)

    assert [state.retention_ms for state in states] == [-1, 30 * 24 * 3600 * 1000]
    assert not any(state.kept_too_briefly for state in states)


def test_an_event_topic_the_broker_trims_is_flagged(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given an event topic created elsewhere with the broker's default week of retention
    topic = unique("weekly")
    with admin_client(kafka_bootstrap) as admin:
        created = admin.create_topics(
            [NewTopic(topic, 2, 1, config={"retention.ms": str(WEEK_MS)})]
        )
        created[topic].result(10)

    # when orderflow looks at it,
    [state] = ensure_topics(kafka_bootstrap, [topic], partitions=2)

    # then it is left as it is, and its row says so and why it matters
    assert (state.created, state.retention_ms, state.kept_too_briefly) == (False, WEEK_MS, True)
    console = Console(record=True, width=200)
    console.print(topics_table([state], 2, {}))
    shown = console.export_text()
    assert "7 days" in shown
    assert "a replay would rebuild without them" in shown


def _consume(bootstrap: str, topic: str, group: str, expected: int) -> list[tuple[str, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": str(uuid.uuid4()),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 20000,
        }
    )
    consumer.subscribe([topic])
    received: list[tuple[str, str]] = []
    try:
        for _ in range(60):
            for message in consumer.consume(100, timeout=0.5):
                assert message.error() is None, message.error()
                received.append((message.key().decode(), message.value().decode()))
            if len(received) >= expected:
                break
    finally:
        consumer.close()
    return received


def test_a_cpu_meter_tells_the_share_of_a_core_over_a_second_or_more() -> None:
    # Given a process that used 0.25 s of CPU in the first second, then 1.5 s in the next two
    readings = iter([(0.0, 10.0), (0.5, 10.1), (1.0, 10.25), (3.0, 11.75)])
    now: list[float] = []

    def used(pid: int) -> float:
        clock, cpu = next(readings)
        now.append(clock)
        return cpu

    meter = CpuMeter(7, used=used, clock=lambda: now[-1])

    # when it is asked four times, then it tells nothing until a second has passed, then
    # each span's share
    assert [meter.share() for _ in range(4)] == [None, None, 0.25, 0.75]


def test_the_stack_view_shows_how_busy_the_embedded_broker_is(tmp_path: Path) -> None:
    # Given a stack whose embedded broker used half a core over the last second
    broker = EmbeddedBroker()
    cpu = iter([1.0, 1.5])
    clock = iter([100.0, 101.0])
    broker.cpu = CpuMeter(7, used=lambda pid: next(cpu), clock=lambda: next(clock))
    stack = LocalStack(Settings(data_dir=tmp_path), broker, with_services=False)
    _drawn(stack)  # the meter's first look

    # when the view is drawn again, then it says so
    row = next(line for line in _drawn(stack).splitlines() if " CPU " in line)
    assert "50% of a core" in row


def test_a_busy_embedded_broker_is_explained() -> None:
    assert broker_cpu(0.2) == "20% of a core"
    assert "grows with what the topics hold" in broker_cpu(0.8)


def _drawn(stack: LocalStack) -> str:
    drawn = io.StringIO()
    Console(file=drawn, width=200).print(stack_view(stack, {}))
    return drawn.getvalue()
