"""`orderflow_consumer_lag` on `/metrics`: one series per group, topic and partition that this
process's member holds now. Two groups on the same topics in one process (the tracking and
analytics workers) report apart; a partition that moves to another member, or a loop that stops,
takes its series away instead of leaving its last value standing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from feed import publish
from ledger_service import Ledgers, on_stock_received
from prometheus_client import REGISTRY

from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.kafka import new_consumer, new_producer
from orderflow.runtime.store import Store
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration

PARTITIONS = 3


def test_two_groups_in_one_process_report_their_lag_apart_and_a_stopped_loop_takes_its_away(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a topic with events on every partition, read by two groups in this process
    topic, tracking, analytics = unique("in"), unique("tracking"), unique("analytics")
    ensure_topics(kafka_bootstrap, [topic], PARTITIONS)
    publish(new_producer(kafka_bootstrap), topic, range(1, 61))
    app = Ledgers(env=store.env)

    with (
        running(app, kafka_bootstrap, topic, tracking),
        running(app, kafka_bootstrap, topic, analytics) as second,
    ):
        # when both have caught up, then each group has its own series for every partition
        wait_for(lambda: lag_of(tracking, topic) == lag_of(analytics, topic) == caught_up())

        # when one of them stops
        second.stop()
        # then its series are gone and the other group's stay
        assert lag_of(analytics, topic) == {}
        assert lag_of(tracking, topic) == caught_up()


def test_partitions_that_move_to_another_member_take_their_series_away(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a loop holding every partition of a topic, its lag reported
    topic, group = unique("in"), unique("group")
    ensure_topics(kafka_bootstrap, [topic], PARTITIONS)
    publish(new_producer(kafka_bootstrap), topic, range(1, 31))
    app = Ledgers(env=store.env)
    with running(app, kafka_bootstrap, topic, group) as first:
        wait_for(lambda: lag_of(group, topic) == caught_up())

        # when a second member (another process, here a bare consumer) joins the group
        with member(kafka_bootstrap, topic, group) as other:
            wait_for(lambda: bool(other) and first.loop.assigned != all_of(topic))

            # and events keep coming (a partition reports once it is read after the move)
            publish(new_producer(kafka_bootstrap), topic, range(31, 61))

            # then this process reports only the partitions it holds now
            held = {partition for _, partition in first.loop.assigned}
            wait_for(lambda: set(lag_of(group, topic)) == held)
            assert 0 < len(held) < PARTITIONS


class Running:
    def __init__(self, loop: ConsumerLoop, stopping: threading.Event) -> None:
        self.loop, self._stopping = loop, stopping
        self._thread = threading.Thread(target=loop.run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(15)
        assert not self._thread.is_alive()


@contextmanager
def running(app: Ledgers, bootstrap: str, topic: str, group: str) -> Iterator[Running]:
    stopping = threading.Event()
    loop = ConsumerLoop.build(
        app,
        {StockReceived: on_stock_received},
        new_consumer(bootstrap, group),
        new_producer(bootstrap),
        [topic],
        group,
        stopping,
        dead_letter_topic=f"{topic}.dlq",
    )
    started = Running(loop, stopping)
    try:
        yield started
    finally:
        started.stop()


@contextmanager
def member(bootstrap: str, topic: str, group: str) -> Iterator[set[int]]:
    """A member of `group` that holds its share of `topic`; the partitions it holds."""
    consumer, held = new_consumer(bootstrap, group), set[int]()
    consumer.subscribe(
        [topic],
        on_assign=lambda _, partitions: held.update(tp.partition for tp in partitions),
        on_revoke=lambda _, partitions: held.difference_update(tp.partition for tp in partitions),
    )
    stopping = threading.Event()

    def poll() -> None:  # on its own thread only: a consumer is not shared between threads
        while not stopping.is_set():
            consumer.poll(0.1)
        consumer.close()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stopping.set()
        thread.join(10)


def lag_of(group: str, topic: str) -> dict[int, float]:
    """This process's lag series of `group` on `topic`: partition → messages behind."""
    return {
        int(sample.labels["partition"]): sample.value
        for family in REGISTRY.collect()
        if family.name == "orderflow_consumer_lag"
        for sample in family.samples
        if sample.labels["group"] == group and sample.labels["topic"] == topic
    }


def caught_up() -> dict[int, float]:
    return dict.fromkeys(range(PARTITIONS), 0.0)


def all_of(topic: str) -> set[tuple[str, int]]:
    return {(topic, partition) for partition in range(PARTITIONS)}


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.2)
