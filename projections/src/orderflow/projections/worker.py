"""Projection workers: the runtime's consumer loop (decode, dead-letter what cannot be read,
commit offsets after the database) applying batches to a read model instead of an event store.

Each projection reads every event topic in a consumer group of its own per generation, so a
rebuild (`orderflow replay`) fills a new generation from the beginning of the topics while the
running worker keeps the live one current; once the rebuild swaps its generation in, the
worker notices within a second and carries on in the new generation's group, from where the
rebuild stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Sequence

import structlog

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation, prepare
from orderflow.projections.model import ReadModel
from orderflow.projections.tracking import TrackingModel
from orderflow.runtime.consumer import Apply, ConsumerLoop
from orderflow.runtime.deadletters import DeadLetterPublisher
from orderflow.runtime.kafka import READ_MODEL_FETCH_WAIT_MS, new_consumer, new_producer
from orderflow.runtime.retry import is_transient
from orderflow.runtime.settings import Settings
from orderflow.schemas.topics import (
    BILLING_EVENTS,
    DEAD_LETTERS,
    FULFILLMENT_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
)

log = structlog.get_logger("orderflow.projections")
DATABASE = "projections"  # the read models' SQLite file or PostgreSQL schema
EVENT_TOPICS = (ORDER_EVENTS, INVENTORY_EVENTS, BILLING_EVENTS, FULFILLMENT_EVENTS)
PROJECTIONS: dict[str, type[ReadModel]] = {
    TrackingModel.name: TrackingModel,
    AnalyticsModel.name: AnalyticsModel,
}


def group_of(projection: str, generation: int, database: str = DATABASE) -> str:
    """A generation's consumer group. Another read database on the same cluster (a second
    deployment, a benchmark) has groups of its own: sharing one would start its rebuild at the
    other's offsets, reading nothing."""
    scope = "" if database == DATABASE else f"{database}."
    return f"orderflow.projection.{scope}{projection}.g{generation}"


def projection_loop(
    apply: Apply,
    bootstrap: str,
    topics: Sequence[str],
    group: str,
    stopping: threading.Event,
    dead_letter_topic: str = DEAD_LETTERS,
    batch_size: int = 2000,
    letters_sent_elsewhere: Container[tuple[str, int, int]] = frozenset(),
) -> ConsumerLoop:
    letters = DeadLetterPublisher(
        new_producer(bootstrap), group, dead_letter_topic, letters_sent_elsewhere
    )
    consumer = new_consumer(bootstrap, group, fetch_wait_ms=READ_MODEL_FETCH_WAIT_MS)
    return ConsumerLoop(apply, consumer, topics, letters, stopping, batch_size)


def follow(
    projection: type[ReadModel],
    database_name: str = DATABASE,
    topics: Sequence[str] = EVENT_TOPICS,
) -> Callable[[Settings, threading.Event], None]:
    """A task for the projections process: keep the live generation of `projection` current
    until stopped."""

    def run(settings: Settings, stopping: threading.Event) -> None:
        database = ReadDatabase(settings, database_name)
        prepare(database)
        try:
            while not stopping.is_set():
                _run_generation(projection, database, settings, topics, stopping)
        finally:
            database.close()

    run.__name__ = f"follow_{projection.name}"
    return run


def _run_generation(
    projection: type[ReadModel],
    database: ReadDatabase,
    settings: Settings,
    topics: Sequence[str],
    stopping: threading.Event,
) -> None:
    generation = live_generation(database, projection.name)
    model = projection(database, generation)
    model.derive_missing()
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch,
        args=(database, projection.name, generation, stopping, done),
        name=f"watch-{projection.name}",
        daemon=True,
    )
    watcher.start()
    group = group_of(projection.name, generation, database.name)
    projection_loop(model.apply, settings.kafka_bootstrap, topics, group, done).run()
    done.set()
    watcher.join()


def prune_feed(every_s: float = 60.0) -> Callable[[Settings, threading.Event], None]:
    """A task for the projections process: every `every_s`, keep only the newest
    `tracking_feed_kept` updates of the live tracking generation's feed. Housekeeping: a
    database that is away this time is tried again next time, on a new connection."""

    def run(settings: Settings, stopping: threading.Event) -> None:
        while not stopping.wait(every_s):
            try:
                _prune(settings)
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("feed not pruned this time", error=str(error))

    return run


def _prune(settings: Settings) -> None:
    database = ReadDatabase(settings, DATABASE)
    try:
        prepare(database)
        model = TrackingModel(database, live_generation(database, TrackingModel.name))
        model.prune_changes(settings.tracking_feed_kept)
    finally:
        database.close()


def _watch(
    database: ReadDatabase,
    projection: str,
    generation: int,
    stopping: threading.Event,
    done: threading.Event,
) -> None:
    """Ends the generation's loop when the process stops or another generation goes live. A
    database that is away for a moment is asked again a second later: were this thread to end,
    the loop would follow the old generation after the next swap, and never stop."""
    while not done.is_set():
        if stopping.wait(1.0) or _swapped(database, projection, generation):
            done.set()


def _swapped(database: ReadDatabase, projection: str, generation: int) -> bool:
    try:
        return live_generation(database, projection) != generation
    except Exception as error:
        if not is_transient(error):
            raise
        log.warning("live generation not read this time", error=str(error))
        return False
