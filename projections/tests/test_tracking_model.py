"""The order-tracking read model on both stores: any order of arrival, with duplicates, gives
the same state, and a rebuild from the topic through a real broker equals the model built
incrementally while the events came in."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from lifecycle import lifecycle

from orderflow.projections.database import Cursor, ReadDatabase
from orderflow.projections.generations import live_generation, prepare
from orderflow.projections.tracking import TrackingModel
from orderflow.projections.worker import DATABASE, projection_loop, prune_feed
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import publish
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.fulfillment import ShipmentCreated, Shipped
from orderflow.schemas.registry import LATEST

pytestmark = pytest.mark.integration


@pytest.fixture
def model(
    store_settings: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[[], TrackingModel]]:
    """A fresh tracking model per call, on the test's store kind; closed afterwards."""
    made: list[ReadDatabase] = []

    def make() -> TrackingModel:
        made.append(ReadDatabase(store_settings, unique("track")[:40]))
        return TrackingModel(made[-1])

    yield make
    for database in made:
        database.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_of_arrival_with_duplicates_gives_the_same_tracking(
    model: Callable[[], TrackingModel], seed: int
) -> None:
    order = uuid4()
    events = lifecycle(order)
    in_order, shuffled = model(), model()
    in_order.apply(events)
    scrambled = events + random.Random(seed).sample(events, 5)
    random.Random(seed).shuffle(scrambled)

    for start in range(0, len(scrambled), 4):
        shuffled.apply(scrambled[start : start + 4])

    tracked = in_order.tracking(str(order))
    assert tracked == shuffled.tracking(str(order))
    assert tracked is not None
    assert tracked["status"] == "completed"
    assert [step["type"] for step in tracked["timeline"]] == [e.type for e in events]
    assert [s["state"] for s in tracked["shipments"]] == ["delivered", "delivered"]
    assert [i["number"] for i in tracked["invoices"]] == sorted(
        e.invoice_number  # type: ignore[attr-defined]
        for e in events
        if e.type == "Invoiced"
    )


def test_partway_the_status_is_the_furthest_stage_reached(
    model: Callable[[], TrackingModel],
) -> None:
    order = uuid4()
    events = lifecycle(order)
    tracking = model()
    expected = [
        "placed",
        "stock_reserved",
        "payment_authorized",
        "payment_authorized",
        "payment_authorized",
        "partially_shipped",
        "shipped",
        "shipped",
        "invoiced",
        "invoiced",
        "delivered",
        "completed",
    ]
    seen = []
    for event in events:
        tracking.apply([event])
        seen.append(tracking.tracking(str(order))["status"])  # type: ignore[index]
    assert seen == expected


def test_an_order_waiting_for_backordered_units_stays_partially_shipped(
    model: Callable[[], TrackingModel],
) -> None:
    order = uuid4()
    events = lifecycle(order)[:-1]  # not completed
    paris = {e.shipment_id for e in events if getattr(e, "warehouse", None) == "paris"}  # type: ignore[attr-defined]
    later = [e for e in events if getattr(e, "shipment_id", None) in paris]
    tracking = model()

    tracking.apply([e for e in events if e not in later])  # one parcel of two, all of it done
    assert tracking.tracking(str(order))["status"] == "partially_shipped"  # type: ignore[index]

    tracking.apply(later)  # the backordered unit arrived and went the same way
    assert tracking.tracking(str(order))["status"] == "delivered"  # type: ignore[index]


def test_a_cancellation_shows_the_parcel_it_stopped_as_cancelled(
    model: Callable[[], TrackingModel],
) -> None:
    # Given an order cancelled when one of its two parcels had left and the other had not
    order = uuid4()
    events = lifecycle(order)
    left, other = first_shipped_and_other(events)
    waiting = other.shipment_id
    stop = [
        following(events, "OrderCancelled", "intake", reason="customer_request"),
        following(
            events,
            "FulfillmentStopped",
            "fulfillment",
            stopped=[waiting],
            went_ahead=[left.shipment_id],
        ),
    ]

    # when the tracking model learns of it, the stop before the rest
    tracking = model()
    tracking.apply(stop + events[: events.index(left) + 1])

    # then the parcel that was stopped is cancelled, and the one that had left is shipped
    tracked = tracking.tracking(str(order))
    assert tracked is not None
    states = {s["shipment_id"]: s["state"] for s in tracked["shipments"]}
    assert states == {str(left.shipment_id): "shipped", str(waiting): "cancelled"}


def test_a_parcel_the_carrier_refused_shows_as_an_exception_until_stopped(
    model: Callable[[], TrackingModel],
) -> None:
    # Given an order one of whose two parcels the carrier refused while the other left
    order = uuid4()
    events = lifecycle(order)
    left, other = first_shipped_and_other(events)
    reason = "no service to postal code 00000"
    refused = following(
        events[: events.index(left) + 1],
        "ShipmentRefused",
        "fulfillment",
        shipment_id=other.shipment_id,
        warehouse=other.warehouse,
        reason=reason,
    )

    # when the tracking model learns of it, the refusal before the rest
    tracking = model()
    tracking.apply([refused, *events[: events.index(left) + 1]])

    # then the refused parcel is an exception with the carrier's reason, a step of its own
    states = _shipment_states(tracking, order)
    assert states == {
        str(left.shipment_id): ("shipped", None),
        str(other.shipment_id): ("exception", reason),
    }
    timeline = tracking.tracking(str(order))["timeline"]  # type: ignore[index]
    assert "ShipmentRefused" in [step["type"] for step in timeline]

    # and once a cancellation stops that parcel, it is cancelled
    stop = following(
        [refused],
        "FulfillmentStopped",
        "fulfillment",
        stopped=[other.shipment_id],
        went_ahead=[left.shipment_id],
    )
    tracking.apply([stop])
    assert _shipment_states(tracking, order)[str(other.shipment_id)] == ("cancelled", reason)


def _shipment_states(tracking: TrackingModel, order: object) -> dict[str, tuple[str, object]]:
    tracked = tracking.tracking(str(order))
    assert tracked is not None
    return {s["shipment_id"]: (s["state"], s["problem"]) for s in tracked["shipments"]}


def first_shipped_and_other(events: list[Message]) -> tuple[Shipped, ShipmentCreated]:
    """The order's first parcel to leave, and the creation of its other parcel."""
    left = next(e for e in events if isinstance(e, Shipped))
    other = next(
        e for e in events if isinstance(e, ShipmentCreated) and e.shipment_id != left.shipment_id
    )
    return left, other


def following(events: list[Message], kind: str, source: str, **fields: object) -> Message:
    """One more event of the order of `events`, a second after its last."""
    last = events[-1]
    return LATEST[kind].model_validate(
        {
            "source": source,
            "source_position": last.source_position + 1000,  # type: ignore[attr-defined]
            "correlation_id": last.correlation_id,
            "order_id": last.order_id,  # type: ignore[attr-defined]
            "occurred_at": last.occurred_at + timedelta(seconds=1),
            **fields,
        }
    )


def test_a_rebuild_from_the_topic_equals_the_incremental_model(
    model: Callable[[], TrackingModel], kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic, orders = unique("events"), [uuid4() for _ in range(20)]
    ensure_topics(kafka_bootstrap, [topic], 3)
    events = [e for order in orders for e in lifecycle(order)]
    incremental, rebuilt = model(), model()
    caught_up = lambda tracking: all(done(tracking, o) for o in orders)  # noqa: E731

    with worker_on(incremental, kafka_bootstrap, topic, unique):
        producer = new_producer(kafka_bootstrap)
        for start in range(0, len(events), 60):  # arriving while the worker runs
            publish(producer, topic, events[start : start + 60])
        wait_until(lambda: caught_up(incremental))
    with worker_on(rebuilt, kafka_bootstrap, topic, unique):  # from the beginning, afterwards
        wait_until(lambda: caught_up(rebuilt))

    for order in orders:
        assert rebuilt.tracking(str(order)) == incremental.tracking(str(order))


@contextmanager
def worker_on(
    tracking: TrackingModel, bootstrap: str, topic: str, unique: Callable[[str], str]
) -> Iterator[None]:
    """A projection worker feeding `tracking` from `topic` (a group of its own) in a thread."""
    stopping = threading.Event()
    loop = projection_loop(
        tracking.apply,
        bootstrap,
        [topic],
        unique("group"),
        stopping,
        dead_letter_topic=unique("dlq"),
    )
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stopping.set()
        worker.join(15)


def done(tracking: TrackingModel, order: object) -> bool:
    found = tracking.tracking(str(order))
    return found is not None and found["status"] == "completed" and len(found["timeline"]) == 12


def wait_until(condition: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the read model did not catch up"
        time.sleep(0.2)


def test_the_feed_keeps_only_its_newest_updates(model: Callable[[], TrackingModel]) -> None:
    # given a model that has seen three whole orders, an event per batch: an update each
    tracking = model()
    for _ in range(3):
        for event in lifecycle(uuid4()):
            tracking.apply([event])
    newest = tracking.last_change()
    before = tracking.changes(0, limit=10_000)

    # when the feed is pruned to its newest five updates
    pruned = tracking.prune_changes(kept=5)

    # then only those remain, a reader goes on from them, and the orders are untouched
    after = tracking.changes(0, limit=10_000)
    assert pruned == len(before) - 5
    assert [change["seq"] for change in after] == list(range(newest - 4, newest + 1))
    assert tracking.prune_changes(kept=5) == 0
    assert tracking.status_counts() == {"completed": 3}


def test_the_projections_process_prunes_the_live_feed(tmp_path: Path) -> None:
    # given a live tracking generation whose feed holds more updates than the setting keeps
    settings = Settings(data_dir=tmp_path, tracking_feed_kept=1_000)
    database = ReadDatabase(settings, DATABASE)
    prepare(database)
    tracking = TrackingModel(database, live_generation(database, TrackingModel.name))
    while tracking.last_change() <= 1_100:
        for event in lifecycle(uuid4()):
            tracking.apply([event])

    # when the projections process's pruning task has run
    stopping = threading.Event()
    task = threading.Thread(target=prune_feed(every_s=0.05), args=(settings, stopping))
    task.start()
    try:
        deadline = time.monotonic() + 30
        while len(tracking.changes(0, limit=100_000)) > 1_000:
            assert time.monotonic() < deadline, "the feed was not pruned"
            time.sleep(0.05)
        left = tracking.changes(0, limit=100_000)
    finally:
        stopping.set()
        task.join(10)
        database.close()

    # then the newest thousand updates are left
    assert len(left) == 1_000


def test_pruning_waits_out_a_database_that_is_away(tmp_path: Path) -> None:
    # given a read database nobody answers for
    away = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:9/nothing")
    stopping = threading.Event()
    task = threading.Thread(target=prune_feed(every_s=0.05), args=(away, stopping))

    # when the pruning task has tried a few times
    task.start()
    time.sleep(0.5)

    # then it is still there for the next time, and stops when asked
    assert task.is_alive()
    stopping.set()
    task.join(10)
    assert not task.is_alive()


def test_two_writers_at_once_leave_the_status_the_facts_give(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given two processes on one tracking model (a second replica, a pod being replaced), an
    # order lacking only its last delivery and its completion, and writer A holding its batch
    # (OrderCompleted) open before commit
    name = unique("track")[:40]
    first, second = ReadDatabase(store_settings, name), ReadDatabase(store_settings, name)
    wrote, go = threading.Event(), threading.Event()

    class HeldOpen(TrackingModel):
        def write(self, cursor: Cursor, events: list[IntegrationEvent]) -> None:
            super().write(cursor, events)
            wrote.set()
            go.wait(10)

    writer_a, writer_b = HeldOpen(first), TrackingModel(second)
    order = uuid4()
    *earlier, delivered, completed = lifecycle(order)
    assert (delivered.type, completed.type) == ("Delivered", "OrderCompleted")
    TrackingModel(first).apply(earlier)
    holder = threading.Thread(target=writer_a.apply, args=([completed],))
    holder.start()
    assert wrote.wait(10)

    # when writer B applies the last delivery meanwhile, and A then commits
    other = threading.Thread(target=writer_b.apply, args=([delivered],))
    other.start()
    other.join(1.0)  # B runs, or waits for A: either way A now commits
    go.set()
    holder.join(15)
    other.join(15)

    # then the order is completed, as its facts say, not left at B's view of "delivered"
    tracked = TrackingModel(first).tracking(str(order))
    assert tracked is not None
    assert tracked["status"] == "completed"
    first.close()
    second.close()
