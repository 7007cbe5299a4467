"""`orderflow republish`: a lost topic is filled again from the service's store, with the same
event ids (so consumers skip what they applied), and the live relay's position is untouched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import KafkaException
from feed import stock_received
from ledger_service import Ledgers, on_stock_received, spec

from orderflow.runtime.broker import free_port
from orderflow.runtime.inbox import apply_batch
from orderflow.runtime.republish import republish
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import resolve
from orderflow.runtime.store import store_for
from orderflow.runtime.testkit import Outbox
from orderflow.runtime.topics import ensure_topics
from orderflow.schemas.inventory import StockReceived

pytestmark = pytest.mark.integration
EVENTS = 30


@pytest.fixture
def ledger(store_settings: Settings, unique: Callable[[str], str], kafka_bootstrap: str) -> str:
    """A ledger service's store holding EVENTS stored events; its name."""
    name = unique("led")[:30]
    app = Ledgers(env=store_for(name, store_settings).env)
    apply_batch(
        app, {StockReceived: on_stock_received}, [stock_received(n) for n in range(1, EVENTS + 1)]
    )
    app.close()
    return name


def test_republish_fills_a_lost_topic_from_the_store_from_any_position(
    ledger: str, store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    settings = store_settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    whole, tail = unique("lost"), unique("tail")
    ensure_topics(kafka_bootstrap, [whole, tail], 3)
    progress: list[tuple[int, int]] = []

    read = republish(spec(ledger, "-", "-", whole), settings, 1, lambda *p: progress.append(p))
    everything = positions(Outbox(kafka_bootstrap, whole), EVENTS)
    middle = everything[EVENTS // 2]
    republish(spec(ledger, "-", "-", tail), settings, middle)

    assert len(everything) == EVENTS  # each stored receipt, once
    assert progress[-1] == (read, read)  # every notification read, the last id reached
    rest = [p for p in everything if p >= middle]
    assert positions(Outbox(kafka_bootstrap, tail), len(rest)) == rest


def positions(outbox: Outbox, count: int) -> list[int]:
    events = outbox.wait_for(lambda seen: len(seen) >= count)
    return sorted(e.source_position for e in events)  # type: ignore[attr-defined]


def test_republish_refuses_a_service_that_publishes_nothing(
    ledger: str, store_settings: Settings
) -> None:
    with pytest.raises(ValueError, match="publishes no events"):
        republish(spec(ledger, "unused", "unused"), store_settings)


def test_republish_refuses_a_store_with_no_events(
    store_settings: Settings, unique: Callable[[str], str]
) -> None:
    # Given a service whose store (as the settings name it) holds nothing: the wrong data
    # directory or database, most likely
    empty = unique("led")[:30]

    # when its events are republished, then it says so rather than report 0 published
    with pytest.raises(ValueError, match="holds no events"):
        republish(spec(empty, "unused", "unused", "out"), store_settings)


def test_republish_to_a_broker_that_does_not_answer_fails_before_reading(
    ledger: str, store_settings: Settings
) -> None:
    # Given a broker address nobody answers at
    settings = store_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    progress: list[tuple[int, int]] = []

    def on_batch(read: int, last: int) -> None:
        progress.append((read, last))

    # when the ledger's events are republished there
    with pytest.raises(KafkaException):
        republish(spec(ledger, "-", "-", "out"), settings, 1, on_batch, broker_wait_s=2)

    # then the broker's silence failed it before a notification was read, rather than the
    # first batch's delivery timing out behind a full progress bar
    assert progress == []


def test_republish_from_past_the_stores_end_says_so(ledger: str, store_settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"notifications 1 to \d+: --from 999 is past"):
        republish(spec(ledger, "-", "-", "out"), store_settings, 999)


def test_a_service_named_by_a_module_that_does_not_exist_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="no service at 'nosuch:thing'"):
        resolve("nosuch:thing")
