"""`orderflow replay tracking analytics`: each rebuild in a process of its own, at once; each
swaps in its own generation, one that fails leaves the others' swaps standing, and a Ctrl-C
stops them all before their swaps."""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from collections.abc import Callable

import pytest
from read_models import analytics, completed, publish_orders

from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation, prepare
from orderflow.projections.side_by_side import STOPPED, rebuild_side_by_side
from orderflow.runtime.broker import free_port
from orderflow.runtime.settings import Settings
from orderflow.runtime.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_both_read_models_rebuild_at_once_in_processes_of_their_own(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # given orders on a topic and a read database never built
    topic, name = unique("events"), unique("sbs")[:40]
    ensure_topics(settings.kafka_bootstrap, [topic], 3)
    orders = publish_orders(settings, topic, 5)
    progress: dict[str, list[int]] = defaultdict(list)

    # when both read models are rebuilt side by side
    outcome = rebuild_side_by_side(
        ["tracking", "analytics"],
        settings,
        lambda projection, read, _total: progress[projection].append(read),
        database_name=name,
        topics=[topic],
    )

    # then each swapped in a generation of its own, built from the whole topic
    assert outcome.failures == {}
    assert outcome.generations == {"tracking": 2, "analytics": 2}
    database = ReadDatabase(settings, name)
    prepare(database)
    assert live_generation(database, "analytics") == 2
    assert all(completed(database, order) for order in orders)
    assert analytics(database).funnel()["completed"] == len(orders)
    database.close()
    assert set(progress) == {"tracking", "analytics"}, "each reported its progress"


def test_a_rebuild_whose_process_dies_is_reported_and_the_others_still_swap(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    # given orders on a topic, and a rebuild asked for one projection that cannot start
    topic, name = unique("events"), unique("sbs")[:40]
    ensure_topics(settings.kafka_bootstrap, [topic], 3)
    orders = publish_orders(settings, topic, 2)

    # when it runs beside a good one
    outcome = rebuild_side_by_side(
        ["tracking", "no-such-model"], settings, database_name=name, topics=[topic]
    )

    # then the dead one is a failure with its exit code, and the good one is live
    assert outcome.failures == {"no-such-model": "its process ended with 1"}
    assert outcome.generations == {"tracking": 2}
    database = ReadDatabase(settings, name)
    assert all(completed(database, order) for order in orders)
    database.close()


def test_a_stopped_replay_stops_each_rebuild_before_its_swap_quietly(
    settings: Settings, unique: Callable[[str], str], capfd: pytest.CaptureFixture[str]
) -> None:
    # given side-by-side rebuilds of a topic holding orders
    topic, name = unique("events"), unique("sbs")[:40]
    ensure_topics(settings.kafka_bootstrap, [topic], 3)
    publish_orders(settings, topic, 2)
    children_before = set(multiprocessing.active_children())

    # when the operator presses Ctrl-C as the first of them reports, before it has read an
    # event (the signal's KeyboardInterrupt, raised where the parent is: taking that report)
    def ctrl_c(projection: str, read: int, total: int) -> None:
        assert read < total, "a rebuild read every event before the first report"
        raise KeyboardInterrupt

    outcome = rebuild_side_by_side(
        ["tracking", "analytics"], settings, ctrl_c, database_name=name, topics=[topic]
    )

    # then each is reported stopped before its swap, no process is left, the live models are
    # the first generation still, and no child printed the traceback of its interruption
    assert outcome.failures == {"tracking": STOPPED, "analytics": STOPPED}
    assert outcome.generations == {}
    assert set(multiprocessing.active_children()) == children_before
    database = ReadDatabase(settings, name)
    prepare(database)
    assert live_generation(database, "tracking") == live_generation(database, "analytics") == 1
    database.close()
    assert "Traceback" not in capfd.readouterr().err


def test_a_broker_that_does_not_answer_is_one_line_per_rebuild(
    settings: Settings, unique: Callable[[str], str], capfd: pytest.CaptureFixture[str]
) -> None:
    # given no broker where the settings point
    gone = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port('127.0.0.1')}"})

    # when both read models are rebuilt side by side
    outcome = rebuild_side_by_side(
        ["tracking", "analytics"], gone, database_name=unique("sbs")[:40], topics=["events"]
    )

    # then each rebuild says what failed in librdkafka's words, and none printed a traceback
    assert outcome.generations == {}
    assert set(outcome.failures) == {"tracking", "analytics"}
    assert all(why.startswith("Kafka: ") for why in outcome.failures.values()), outcome
    assert "Traceback" not in capfd.readouterr().err
