"""Bad input never blocks a partition: undecodable, invalid, unknown, oversized or refused
messages go to the dead-letter topic with their reason; every good one is applied; lag ends at 0."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from feed import Delivered, publish, stock_received
from ledger_service import Ledger, Ledgers, ledger_id, on_stock_received

from orderflow.runtime import deadletters
from orderflow.runtime.consumer import ConsumerLoop, passes_unread
from orderflow.runtime.inbox import Handlers
from orderflow.runtime.kafka import kafka_headers, new_consumer, new_producer
from orderflow.runtime.store import Store
from orderflow.runtime.topics import ensure_topics
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.codec import contract_type, encode
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration


def refuse_position_13(received: StockReceived, uow: UnitOfWork) -> None:
    if received.source_position == 13:
        raise ValueError("warehouse 'berlin' is closed for SKU-013")
    on_stock_received(received, uow)


def poison(n: int) -> tuple[bytes, list[tuple[str, bytes]], str]:
    """The n-th kind of bad message: body, headers, the reason it must be dead-lettered for."""
    good = encode(stock_received(1000 + n))
    wrong = json.loads(good.value)
    wrong["quantity"] = -5
    unknown = [
        (k, b"orderflow.StockTeleported.v1" if k == "ce_type" else v) for k, v in good.headers
    ]
    return [
        (b"\x00\x01 not json at all", [], "malformed"),
        (json.dumps(wrong).encode(), good.headers, "invalid"),
        (good.value, unknown, "unknown_type"),
        (b"{" + b" " * 600_000 + b"}", good.headers, "too_large"),
    ][n % 4]


def feed_interleaved(producer: Producer, topic: str, delivered: Delivered) -> dict[str, int]:
    expected: dict[str, int] = {}
    for n in range(1, 201):
        encoded = encode(stock_received(n))
        producer.produce(
            topic,
            encoded.value,
            encoded.key,
            headers=kafka_headers(encoded.headers),
            on_delivery=delivered,
        )
        if n % 10 == 0:
            body, headers, reason = poison(n // 10)
            producer.produce(
                topic, body, b"poison", headers=kafka_headers(headers), on_delivery=delivered
            )
            expected[reason] = expected.get(reason, 0) + 1
    assert producer.flush(30) == 0
    assert delivered.errors == []
    return expected


def test_poison_goes_to_dead_letters_and_the_rest_is_applied(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    topic, dlq, group = unique("in"), unique("dlq"), unique("group")
    ensure_topics(kafka_bootstrap, [topic, dlq], 3)
    delivered = Delivered()
    expected = feed_interleaved(new_producer(kafka_bootstrap), topic, delivered)
    expected["handler_failed"] = 1
    app = Ledgers(env=store.env)
    run_until_caught_up(
        app,
        {StockReceived: refuse_position_13},
        kafka_bootstrap,
        (topic, dlq, group),
        delivered.ends,
    )

    letters = deadletters.read_all(kafka_bootstrap, dlq)
    reasons: dict[str, int] = {}
    for letter in letters:
        reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
        assert (letter.topic, letter.group) == (topic, group)
    assert reasons == expected
    refused = next(letter for letter in letters if letter.reason == "handler_failed")
    assert "closed for SKU-013" in refused.error
    applied = sorted(ref for refs in app.references().values() for ref in refs)
    assert applied == sorted(f"in-{n}" for n in range(1, 201) if n != 13)


def run_until_caught_up(
    app: Ledgers,
    handlers: Handlers,
    bootstrap: str,
    names: tuple[str, str, str],
    ends: dict[int, int],
) -> None:
    """Run a consumer loop on (topic, dead-letter topic, group) until it committed `ends`."""
    topic, dlq, group = names
    stopping = threading.Event()
    loop = ConsumerLoop.build(
        app,
        handlers,
        new_consumer(bootstrap, group),
        new_producer(bootstrap),
        [topic],
        group,
        stopping,
        dead_letter_topic=dlq,
    )
    ended: list[BaseException] = []  # what ended the loop, if anything did

    def run() -> None:
        try:
            loop.run()
        except BaseException as error:
            ended.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        _wait_until(lambda: bool(ended) or _lag(bootstrap, topic, group, ends) == 0)
        assert not ended, f"the consumer loop ended: {ended[0]!r}"
    finally:
        stopping.set()
        worker.join(15)


def _lag(bootstrap: str, topic: str, group: str, ends: dict[int, int]) -> int:
    """Messages the group has not committed past. End offsets come from delivery reports: the
    embedded broker's ListOffsets answers the last batch's base offset, not the true end."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = probe.committed([TopicPartition(topic, p) for p in ends], timeout=5)
        return sum(ends[tp.partition] - max(tp.offset, 0) for tp in committed)
    finally:
        probe.close()


def _wait_until(condition: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "lag never reached 0"
        time.sleep(0.5)


def hundred_events(
    bootstrap: str, unique: Callable[[str], str]
) -> tuple[tuple[str, str, str], Delivered]:
    """A topic of the test's own holding events 1-100 (over 3 partitions), a dead-letter topic
    and a consumer group: the given-step of the tests below."""
    topic, dlq, group = unique("in"), unique("dlq"), unique("group")
    ensure_topics(bootstrap, [topic, dlq], 3)
    return (topic, dlq, group), publish(new_producer(bootstrap), topic, range(1, 101))


def test_a_transient_failure_waits_and_retries_without_dropping(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a database that is "unreachable" for the first three attempts at one event
    (topic, dlq, group), delivered = hundred_events(kafka_bootstrap, unique)
    outages = iter(range(3))

    def flaky(received: StockReceived, uow: UnitOfWork) -> None:
        if received.source_position == 50 and next(outages, None) is not None:
            raise psycopg.OperationalError("connection refused (simulated outage)")
        on_stock_received(received, uow)

    # when the consumer runs through it
    app = Ledgers(env=store.env)
    run_until_caught_up(
        app, {StockReceived: flaky}, kafka_bootstrap, (topic, dlq, group), delivered.ends
    )

    # then every event was applied once, after the outage, and none was dead-lettered
    assert next(outages, None) is None, "the outage was retried through"
    applied = sorted(ref for refs in app.references().values() for ref in refs)
    assert applied == sorted(f"in-{n}" for n in range(1, 101))
    assert deadletters.read_all(kafka_bootstrap, dlq) == []


def test_an_event_that_keeps_racing_another_writer_is_retried_not_dead_lettered(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given another writer (an API call, a second instance) that changes event 50's ledger
    # between the consumer's load and its commit, eight times running
    (topic, dlq, group), delivered = hundred_events(kafka_bootstrap, unique)
    app, rival = Ledgers(env=store.env), Ledgers(env=store.env)
    rival.save(Ledger(stock_received(50).sku))
    races = iter(range(8))

    def raced(received: StockReceived, uow: UnitOfWork) -> None:
        on_stock_received(received, uow)
        race = next(races, None) if received.source_position == 50 else None
        if race is not None:
            ledger = rival.repository.get(ledger_id(received.sku))
            ledger.receive(received.sku, f"rival-{race}", 1, received.correlation_id)
            rival.save(ledger)

    # when the consumer runs through it
    run_until_caught_up(
        app, {StockReceived: raced}, kafka_bootstrap, (topic, dlq, group), delivered.ends
    )

    # then the event was applied once, after the races, and nothing was dead-lettered
    assert next(races, None) is None, "every race was met"
    applied = sorted(r for refs in app.references().values() for r in refs if r.startswith("in-"))
    assert applied == sorted(f"in-{n}" for n in range(1, 101))
    assert deadletters.read_all(kafka_bootstrap, dlq) == []


def test_an_event_that_conflicts_every_time_is_dead_lettered_alone(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a handler that opens event 50's stored ledger again, which the store refuses
    (topic, dlq, group), delivered = hundred_events(kafka_bootstrap, unique)
    app = Ledgers(env=store.env)
    app.save(Ledger(stock_received(50).sku))

    def reopens(received: StockReceived, uow: UnitOfWork) -> None:
        if received.source_position == 50:
            uow.add(Ledger(received.sku))
        on_stock_received(received, uow)

    # when the consumer runs through it
    with count_commits(app) as commits:
        run_until_caught_up(
            app, {StockReceived: reopens}, kafka_bootstrap, (topic, dlq, group), delivered.ends
        )

    # then that event alone is dead-lettered as a conflict, and every other one is applied,
    letters = deadletters.read_all(kafka_bootstrap, dlq)
    assert [
        (letter.reason, json.loads(letter.value or b"{}")["reference"]) for letter in letters
    ] == [("conflict", "in-50")]
    applied = sorted(ref for refs in app.references().values() for ref in refs)
    assert applied == sorted(f"in-{n}" for n in range(1, 101) if n != 50)
    # in a few transactions: the batch around it was halved, not applied event by event
    assert len(commits) <= 20, commits


@contextmanager
def count_commits(app: Ledgers) -> Iterator[list[int]]:
    """The events of each transaction that stored any, while in the block."""
    commits: list[int] = []
    put = app.events.put

    def counted(events: Sequence[Any], **kwargs: Any) -> Any:
        stored = put(events, **kwargs)
        if events:
            commits.append(len(events))
        return stored

    app.events.put = counted  # type: ignore[method-assign]
    try:
        yield commits
    finally:
        del app.events.put


def test_an_outage_while_an_event_is_isolated_is_waited_out_not_dead_lettered(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given event 50 conflicting often enough to be isolated from its batch (3 whole-batch
    # attempts and at most 9 halvings of 500), then meeting a database outage twice
    (topic, dlq, group), delivered = hundred_events(kafka_bootstrap, unique)
    app = Ledgers(env=store.env)
    app.save(Ledger(stock_received(50).sku))
    attempts = iter(["conflict"] * 12 + ["outage"] * 2)

    def conflicts_then_outage(received: StockReceived, uow: UnitOfWork) -> None:
        trouble = next(attempts, None) if received.source_position == 50 else None
        if trouble == "outage":
            raise psycopg.OperationalError("connection refused (simulated outage)")
        if trouble == "conflict":
            uow.add(Ledger(received.sku))  # opens the stored ledger again: the store refuses
        on_stock_received(received, uow)

    # when the consumer runs through it
    run_until_caught_up(
        app,
        {StockReceived: conflicts_then_outage},
        kafka_bootstrap,
        (topic, dlq, group),
        delivered.ends,
    )

    # then the loop waited the outage out and applied the event; nothing was dead-lettered
    assert next(attempts, None) is None, "every conflict and the outage were met"
    applied = sorted(ref for refs in app.references().values() for ref in refs)
    assert applied == sorted(f"in-{n}" for n in range(1, 101))
    assert deadletters.read_all(kafka_bootstrap, dlq) == []


def test_messages_of_contracts_no_handler_takes_are_passed_unread(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    # Given a topic that also carries another contract's messages, bodies not even JSON: a
    # service reacts to some types of the topics it reads and needs not validate the rest
    topic, dlq, group = unique("in"), unique("dlq"), unique("group")
    ensure_topics(kafka_bootstrap, [topic, dlq], 3)
    producer, delivered = new_producer(kafka_bootstrap), Delivered()
    for n in range(1, 61):
        encoded = encode(stock_received(n))
        headers = encoded.headers
        if n % 3 == 0:
            headers = [
                (k, b"orderflow.OrderCancelled.v1" if k == "ce_type" else v) for k, v in headers
            ]
            assert contract_type(headers) == "OrderCancelled"
        body = b"not read" if n % 3 == 0 else encoded.value
        producer.produce(
            topic, body, encoded.key, headers=kafka_headers(headers), on_delivery=delivered
        )
    assert producer.flush(30) == 0
    app = Ledgers(env=store.env)

    # when a loop with a handler for StockReceived only catches up
    run_until_caught_up(
        app,
        {StockReceived: on_stock_received},
        kafka_bootstrap,
        (topic, dlq, group),
        delivered.ends,
    )

    # then the others were passed: nothing dead-lettered, every StockReceived applied
    assert deadletters.read_all(kafka_bootstrap, dlq) == []
    applied = sorted(ref for refs in app.references().values() for ref in refs)
    assert applied == sorted(f"in-{n}" for n in range(1, 61) if n % 3)


@pytest.mark.parametrize(
    ("contract", "topic", "passed"),
    [
        ("OrderCancelled", "orders.events", True),  # a relay's topic: no handler, no effect
        ("StockReceived", "inventory.events", False),  # handled: read and applied
        (None, "orders.events", False),  # no known contract named: read, and dead-lettered
        ("OrderPlaced", "channel.orders", False),  # channels write here: read in full
        ("LowStockDetected", "erp.stock", False),  # so does the ERP
    ],
)
def test_only_unhandled_contracts_on_our_own_topics_pass_unread(
    contract: str | None, topic: str, passed: bool
) -> None:
    assert passes_unread({"StockReceived", "OrderSubmitted"}, contract, topic) is passed
