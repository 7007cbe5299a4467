"""`orderflow replay`: a rebuild fills new tables from the beginning of the topics while the
live ones keep answering, swaps them in at once, equals what was built incrementally, and the
running worker carries on in the new tables with nothing lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
import pytest
from lifecycle import lifecycle
from read_models import analytics, completed, publish_orders, tracking

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation, prepare
from orderflow.projections.replay import RebuildFailed, rebuild
from orderflow.projections.service import workers_joined_check
from orderflow.projections.tracking import TrackingModel
from orderflow.projections.worker import follow
from orderflow.runtime.deadletters import read_all
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import publish
from orderflow.runtime.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_a_rebuild_swaps_in_an_equal_model_while_the_worker_keeps_going(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    topic, name, database = a_topic_and_read_database(settings, unique)
    first_orders = publish_orders(settings, topic, 8)
    workers_joined = workers_joined_check(settings, name)["workers"]
    with pytest.raises(RuntimeError, match=r"tracking \(generation 1\), analytics"):
        workers_joined()  # no worker runs: the projections process is not ready

    with following(settings, name, topic):
        wait_until(lambda: all(completed(database, o) for o in first_orders))
        workers_joined()
        before = {o: tracking(database).tracking(str(o)) for o in first_orders}
        funnel_before = analytics(database).funnel()
        served_during: list[int] = []

        generation = rebuild(
            "tracking",
            settings,
            lambda *_: served_during.append(live_generation(database, "tracking")),
            database_name=name,
            topics=[topic],
        )
        rebuilt_analytics = rebuild("analytics", settings, database_name=name, topics=[topic])
        funnel_rebuilt = analytics(database).funnel()
        later_orders = publish_orders(settings, topic, 3)  # after the swap
        wait_until(lambda: all(completed(database, o) for o in later_orders))
        wait_until(lambda: analytics(database).funnel()["placed"] == 11)
        workers_joined()  # in the new generation's groups

    assert set(served_during) == {1}, "readers kept the old tables until the swap"
    assert (generation, rebuilt_analytics) == (2, 2)
    assert live_generation(database, "tracking") == 2
    assert {o: tracking(database).tracking(str(o)) for o in first_orders} == before
    assert funnel_rebuilt == funnel_before
    database.close()


def test_a_rebuild_from_topics_that_lost_what_the_live_model_applied_is_refused(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given a live read model built from the topic, and then the topics lost (a restarted
    # embedded broker keeps none): the rebuild reads a topic that starts afresh, at offset 0
    topic, name, database = a_topic_and_read_database(settings, unique)
    orders = publish_orders(settings, topic, 3)
    with following(settings, name, topic):
        wait_until(lambda: all(completed(database, o) for o in orders))
    before = {o: tracking(database).tracking(str(o)) for o in orders}
    anew = unique("events")
    ensure_topics(settings.kafka_bootstrap, [anew], 3)

    # when the tracking model is rebuilt from it, then the rebuild is refused, naming the way
    # back, and the live model still serves every order
    with pytest.raises(RebuildFailed) as refused:
        rebuild("tracking", settings, database_name=name, topics=[anew])
    assert "orderflow republish" in str(refused.value)
    assert live_generation(database, "tracking") == 1
    assert {o: tracking(database).tracking(str(o)) for o in orders} == before
    database.close()


def test_two_read_databases_each_rebuild_from_the_whole_topic(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # given orders on a topic, and a first read database rebuilt from it
    topic = unique("events")
    ensure_topics(settings.kafka_bootstrap, [topic], 3)
    orders = publish_orders(settings, topic, 4)
    first, second = unique("first")[:40], unique("second")[:40]
    rebuild("tracking", settings, database_name=first, topics=[topic])

    # when a second read database (another deployment on the same cluster) is rebuilt
    rebuild("tracking", settings, database_name=second, topics=[topic])

    # then it read the topic from the beginning too, in consumer groups of its own
    for name in (first, second):
        database = ReadDatabase(settings, name)
        assert all(completed(database, order) for order in orders), name
        database.close()


def test_a_rebuild_swaps_in_while_orders_keep_coming(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given orders on the topic, and another order's events every 0.2 s throughout
    topic, name, database = a_topic_and_read_database(settings, unique)
    first_orders = publish_orders(settings, topic, 4)
    stop, producer = threading.Event(), new_producer(settings.kafka_bootstrap)

    def keep_placing() -> None:
        while not stop.wait(0.2):
            publish(producer, topic, lifecycle(uuid4()))

    placing = threading.Thread(target=keep_placing, daemon=True)
    placing.start()

    # when the tracking model is rebuilt meanwhile (the topics are never quiet for a second)
    swapped: list[int] = []
    rebuilding = threading.Thread(
        target=lambda: swapped.append(
            rebuild("tracking", settings, database_name=name, topics=[topic])
        ),
        daemon=True,
    )
    rebuilding.start()
    rebuilding.join(90)
    stop.set()
    placing.join(10)

    # then it caught up with the head and swapped in, holding every order placed before
    assert swapped == [2], "the rebuild reached the head of the topics and swapped"
    assert all(completed(database, order) for order in first_orders)
    database.close()


def test_a_rebuild_sends_no_second_dead_letter_for_what_a_generation_sent_one(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # given a read model built from a topic holding an unreadable message (its live group
    # dead-lettered it), and another unreadable message since
    topic, name, database = a_topic_and_read_database(settings, unique)
    producer = new_producer(settings.kafka_bootstrap)
    producer.produce(topic, key=b"old", value=b"not an event")
    publish_orders(settings, topic, 1)
    assert rebuild("tracking", settings, database_name=name, topics=[topic]) == 2
    producer.produce(topic, key=b"new", value=b"not an event either")
    producer.flush(10)

    # when it is rebuilt again, and once more
    assert rebuild("tracking", settings, database_name=name, topics=[topic]) == 3
    assert rebuild("tracking", settings, database_name=name, topics=[topic]) == 4

    # then each unreadable message has one dead letter: the second rebuild sent one for the new
    # message only, and the third none (a generation that left a letter out has none of its
    # own, but the one before it has)
    letters = [letter for letter in read_all(settings.kafka_bootstrap) if letter.topic == topic]
    by_group = sorted((letter.group.rsplit(".", 1)[-1], letter.key) for letter in letters)
    assert by_group == [("g2", b"old"), ("g3", b"new")]
    database.close()


def test_the_worker_follows_a_swap_after_postgresql_dropped_its_connections(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # given a worker keeping a read model current
    topic, name, database = a_topic_and_read_database(settings, unique)
    first_orders = publish_orders(settings, topic, 3)
    started = drop_connections_since(settings, None)  # none yet: the clock for what follows
    with following(settings, name, topic):
        wait_until(lambda: all(completed(database, o) for o in first_orders))

        # when PostgreSQL drops every connection the workers hold, then a rebuild swaps
        drop_connections_since(settings, started)
        time.sleep(2)  # the workers' next look at the database finds its connection gone
        rebuild("tracking", settings, database_name=name, topics=[topic])
        later_orders = publish_orders(settings, topic, 2)

        # then the worker carries on in the new generation
        wait_until(lambda: all(completed(database, o) for o in later_orders))
    assert live_generation(database, "tracking") == 2
    database.close()


def a_topic_and_read_database(
    settings: Settings, unique: Callable[[str], str]
) -> tuple[str, str, ReadDatabase]:
    """A topic of the test's own, and a read database of its own with its generations table."""
    topic, name = unique("events"), unique("proj")[:40]
    ensure_topics(settings.kafka_bootstrap, [topic], 3)
    database = ReadDatabase(settings, name)
    prepare(database)
    return topic, name, database


def drop_connections_since(settings: Settings, since: str | None) -> str:
    """Terminate the test database's connections opened after `since` (the workers'; tests
    run one at a time), as a PostgreSQL restart would; the server's time now."""
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as admin:
        if since is not None:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                " current_database() AND pid <> pg_backend_pid() AND backend_start > %s",
                [since],
            )
        row = admin.execute("SELECT clock_timestamp()::text").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def following(settings: Settings, name: str, topic: str) -> Iterator[None]:
    """The projections process's two workers, in threads, on the test's topic and tables."""
    stopping = threading.Event()
    workers = [
        threading.Thread(
            target=follow(model, name, [topic]), args=(settings, stopping), daemon=True
        )
        for model in (TrackingModel, AnalyticsModel)
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stopping.set()
        for worker in workers:
            worker.join(20)


def wait_until(condition: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the read model did not catch up"
        time.sleep(0.2)
