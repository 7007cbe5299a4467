"""Input for the ledger service: numbered StockReceived events from a pretend ERP."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
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


class Delivered:
    """Delivery reports: the end offset of every partition, and any failure."""

    def __init__(self) -> None:
        self.ends: dict[int, int] = {}
        self.errors: list[str] = []

    def __call__(self, error: object, message: Any) -> None:
        if error is not None:
            self.errors.append(str(error))
            return
        partition, offset = int(message.partition() or 0), int(message.offset() or 0)
        self.ends[partition] = max(self.ends.get(partition, 0), offset + 1)


def publish(producer: Producer, topic: str, positions: range, skus: int = 20) -> Delivered:
    return publish_events(producer, topic, (stock_received(p, skus) for p in positions))


def publish_events(producer: Producer, topic: str, events: Iterable[Message]) -> Delivered:
    delivered = Delivered()
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
    assert delivered.errors == [], delivered.errors
    return delivered
