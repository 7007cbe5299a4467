"""Input for the ledger service: numbered StockReceived events from a pretend ERP."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import NAMESPACE_URL, uuid5

from confluent_kafka import Producer

from orderflow.runtime.kafka import kafka_headers
from orderflow.schemas.codec import encode
from orderflow.schemas.envelope import Message
from orderflow.schemas.inventory import StockReceived

SOURCE = "feeder"


def stock_received(position: int, skus: int = 20) -> StockReceived:
    return StockReceived(
        source=SOURCE,
        source_position=position,
        correlation_id=uuid5(NAMESPACE_URL, f"feed/{position}"),
        sku=f"SKU-{position % skus:03d}",
        warehouse="berlin",
        quantity=1 + position % 7,
        reference=f"in-{position}",
    )


def publish(producer: Producer, topic: str, positions: range, skus: int = 20) -> None:
    publish_events(producer, topic, (stock_received(position, skus) for position in positions))


def publish_events(producer: Producer, topic: str, events: Iterable[Message]) -> None:
    failed: list[str] = []

    def delivered(error: object, _: object) -> None:
        if error is not None:
            failed.append(str(error))

    for count, event in enumerate(events):
        encoded = encode(event)
        producer.produce(
            topic,
            encoded.value,
            encoded.key,
            headers=kafka_headers(encoded.headers),
            on_delivery=delivered,
        )
        if count % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "feed not delivered"
    assert failed == [], failed
