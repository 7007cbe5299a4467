"""The relay publishes every stored event at least once, in order per key, and resumes from
its saved position after a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from feed import stock_received
from ledger_service import Ledgers, make_translate, on_stock_received
from prometheus_client import REGISTRY
from relays import published, relay_for

from orderflow.runtime.broker import free_port
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.relay import DeliveryFailed, Relay
from orderflow.runtime.store import Store
from orderflow.runtime.topics import ensure_topics
from orderflow.runtime.watermarks import never_written
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration


def filled_store(store: Store, count: int) -> Ledgers:
    app = Ledgers(env=store.env)
    events = [stock_received(n) for n in range(1, count + 1)]
    apply_batch(app, {StockReceived: on_stock_received}, events)
    return app


def drain(relay: Relay) -> None:
    while relay.publish_next():
        pass


def test_every_stored_event_is_published_and_the_position_saved(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic = unique("relay")
    ensure_topics(kafka_bootstrap, [topic], 3)
    app = filled_store(store, 250)
    relay = relay_for(app, kafka_bootstrap, topic)

    while relay.publish_next():
        pass

    events = published(kafka_bootstrap, topic, lambda seen: len(seen) >= 250)
    assert sorted(e.reference or "" for e in events) == sorted(f"in-{n}" for n in range(1, 251))
    assert relay.recorder.relay_position("kafka") == app.recorder.max_notification_id()
    for sku in {e.sku for e in events}:  # one key's events keep their order
        positions = [e.source_position for e in events if e.sku == sku]
        assert positions == sorted(positions)


def test_a_batch_confirmed_after_a_failed_one_is_never_saved_past_it(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given 20 stored events in batches of 10, two in flight, the third refused by the broker
    topic, name = unique("out"), unique("relay")
    ensure_topics(kafka_bootstrap, [topic], 2)
    app = filled_store(store, 20)
    relay = Relay(
        app,
        make_translate("ledger"),
        new_producer(kafka_bootstrap),
        name,
        batch_size=10,
        topic_for=lambda event: "an invalid topic!" if event.reference == "in-3" else topic,
    )

    # when the first batch fails while the second is confirmed, and the relay then settles
    # what is in flight (as it does when it stops, or stands by for another instance)
    with pytest.raises(DeliveryFailed):
        drain(relay)
    relay.settle()

    # then nothing past the failed event is saved: all of it goes out again
    assert relay.recorder.relay_position(name) == 0


def test_a_crash_before_saving_the_position_republishes_never_skips(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic = unique("relay")
    ensure_topics(kafka_bootstrap, [topic], 3)
    app = filled_store(store, 120)
    crashing = relay_for(app, kafka_bootstrap, topic, batch_size=50)
    crashing.publish_next()  # the first batch goes out (its position saved once confirmed)

    def crash(name: str, position: int) -> None:
        raise RuntimeError("killed between produce and save")

    crashing.recorder.save_relay_position = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):  # the next save, whenever a batch is confirmed
        drain(crashing)

    restarted = relay_for(Ledgers(env=app.env.copy()), kafka_bootstrap, topic, batch_size=50)
    while restarted.publish_next():
        pass

    every = {f"in-{n}" for n in range(1, 121)}
    events = published(
        kafka_bootstrap,
        topic,
        lambda seen: {e.reference for e in seen} >= every and len(seen) > 120,
    )
    references = [e.reference for e in events]
    assert set(references) == every, "nothing skipped"
    assert len(references) > 120, "the unsaved batch went out twice"


def test_a_relay_whose_topics_were_lost_publishes_its_whole_store_again(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a relay that published 60 events and saved its position, some of them maybe not
    # yet read by anyone, and a broker that then lost its topics (an embedded broker's restart:
    # here, the relay's topic made anew under another name)
    first, remade = unique("relay"), unique("remade")
    ensure_topics(kafka_bootstrap, [first, remade], 2)
    app = filled_store(store, 60)
    drain(relay_for(app, kafka_bootstrap, first))

    # when the relay starts again, writing to topics never written to, and stops (a crash, a
    # lease handed over) once it has published again its first batch of 20,
    interrupted = restarted(app, kafka_bootstrap, remade)
    interrupted.publish_next()
    interrupted.settle()
    # and starts once more, its topics no longer new
    drain(restarted(app, kafka_bootstrap, remade))

    # then every stored event was published again, not only those after the old position
    events = published(kafka_bootstrap, remade, lambda seen: len(seen) >= 60)
    assert sorted(e.reference or "" for e in events) == sorted(f"in-{n}" for n in range(1, 61))
    # and once its topics hold them all, a restart goes on from the saved position as ever
    assert restarted(app, kafka_bootstrap, remade).publish_next() == 0


def restarted(app: Ledgers, bootstrap: str, topic: str) -> Relay:
    """The ledger's relay in a process started anew, writing to `topic`, which it checks."""
    return Relay(
        Ledgers(env=app.env.copy()),
        make_translate("ledger"),
        new_producer(bootstrap),
        batch_size=20,
        topic_for=lambda _: topic,
        topics_are_new=lambda: never_written(bootstrap, [topic]),
    )


def test_the_lag_counts_what_is_left_and_a_caught_up_relay_settles_without_reading_again(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given 140 stored events (20 ledgers opened, 120 entries) and a relay of batches of 50,
    topic, name = unique("relay"), unique("lag")
    ensure_topics(kafka_bootstrap, [topic], 3)
    app = filled_store(store, 120)
    relay = Relay(app, make_translate("ledger"), new_producer(kafka_bootstrap), name, 50)
    relay.topic_for = lambda _: topic
    assert app.recorder.max_notification_id() == 140

    def lag() -> float | None:
        return REGISTRY.get_sample_value("orderflow_relay_lag", {"relay": name})

    # when two full batches are out and confirmed, the lag is the 40 left;
    relay.publish_next()
    relay.publish_next()
    relay.settle()
    assert lag() == 40

    # when the last, short batch is read and settled, nothing is left and the position is saved
    # without another read.
    assert relay.publish_next() == 40
    reads: list[object] = []
    read = relay.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return read(*args, **kwargs)

    relay.recorder.select_notifications = counted  # type: ignore[method-assign]
    relay.settle()
    assert (lag(), reads) == (0, [])
    assert relay.recorder.relay_position(name) == app.recorder.max_notification_id()


def test_a_batch_larger_than_the_producers_queue_is_confirmed_and_saved(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a producer whose local queue holds 10 messages, and a batch of 120 to publish,
    topic = unique("relay")
    ensure_topics(kafka_bootstrap, [topic], 3)
    app = filled_store(store, 100)
    small = new_producer(kafka_bootstrap, **{"queue.buffering.max.messages": 10})
    relay = Relay(app, make_translate("ledger"), small, batch_size=500, topic_for=lambda _: topic)

    # when the relay produces it, serving delivery reports of its own batch to make room,
    relay.publish_next()
    relay.settle()

    # then it counts every report, so the batch is confirmed and its position saved.
    assert relay.recorder.relay_position("kafka") == app.recorder.max_notification_id()
    events = published(kafka_bootstrap, topic, lambda seen: len(seen) >= 100)
    assert sorted(e.reference or "" for e in events) == sorted(f"in-{n}" for n in range(1, 101))


def test_a_relay_that_cannot_reach_the_broker_reports_what_waits_in_the_store(
    store: Store, unique: Callable[[str], str]
) -> None:
    # Given 140 stored events and a relay whose broker does not answer
    name = unique("stuck")
    app = filled_store(store, 120)
    nowhere = f"127.0.0.1:{free_port()}"
    producer = new_producer(nowhere, **{"message.timeout.ms": 1000})
    relay = Relay(app, make_translate("ledger"), producer, name, topic_for=lambda _: "nowhere")

    # when it runs and its deliveries keep failing
    stopping = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stopping,))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while REGISTRY.get_sample_value("orderflow_relay_lag", {"relay": name}) is None:
            assert time.monotonic() < deadline, "no lag reported while stuck"
            time.sleep(0.1)
    finally:
        stopping.set()
        worker.join(30)

    # then its lag says every stored event is still to publish, not the 0 of no news
    assert REGISTRY.get_sample_value("orderflow_relay_lag", {"relay": name}) == 140
    assert relay.recorder.relay_position(name) == 0
