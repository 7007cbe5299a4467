"""Messages on Kafka: CloudEvents binary mode that the CloudEvents SDK reads, and decoding
failures that say what is wrong and keep the raw bytes for the dead-letter topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from orderflow.schemas.codec import MAX_MESSAGE_BYTES, decode, encode
from orderflow.schemas.envelope import order_id_of
from orderflow.schemas.errors import (
    DecodeError,
    InvalidEvent,
    MalformedMessage,
    MessageTooLarge,
    UnknownEventType,
)
from orderflow.schemas.orders import OrderPlaced
from orderflow.schemas.registry import LATEST

pytestmark = pytest.mark.unit


def current(payloads: dict[str, dict[str, Any]], name: str) -> Any:
    type_name = name.split(".")[0]
    return LATEST[type_name].model_validate_json(json.dumps(payloads[name]))


def test_every_current_message_survives_encode_then_decode(
    payloads: dict[str, dict[str, Any]],
) -> None:
    for cls in LATEST.values():
        message = current(payloads, f"{cls.event_type()}.v{cls.event_version()}")

        encoded = encode(message)

        assert decode(encoded.value, encoded.headers) == message


def test_headers_follow_the_cloudevents_kafka_binding(payloads: dict[str, dict[str, Any]]) -> None:
    placed = current(payloads, "OrderPlaced.v2")

    encoded = encode(placed, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")

    headers = dict(encoded.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"orderflow.OrderPlaced.v2"
    assert headers["ce_source"] == b"/orderflow/intake"
    assert headers["ce_time"] == b"2026-03-01T09:30:00Z"
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"].startswith(b"00-")
    assert encoded.topic == "orders.events"
    assert encoded.key == str(placed.order_id).encode()


def test_the_cloudevents_sdk_reads_what_we_write(payloads: dict[str, dict[str, Any]]) -> None:
    placed = current(payloads, "OrderPlaced.v2")
    encoded = encode(placed)

    event = from_binary(
        KafkaMessage(headers=dict(encoded.headers), key=encoded.key, value=encoded.value),
        JSONFormat(),
    )

    assert event.get_id() == str(placed.event_id)
    assert event.get_type() == "orderflow.OrderPlaced.v2"
    assert event.get_source() == "/orderflow/intake"
    assert event.get_time() == placed.occurred_at
    assert event.get_data() == json.loads(encoded.value)


def test_keys_are_the_order_the_sku_or_the_channel_order(
    payloads: dict[str, dict[str, Any]],
) -> None:
    assert encode(current(payloads, "StockReceived.v1")).key == b"SKU-001"
    assert encode(current(payloads, "LowStockDetected.v1")).key == b"SKU-001"
    assert encode(current(payloads, "OrderSubmitted.v1")).key == b"marketplace:mp-77"
    assert encode(current(payloads, "Delivered.v1")).topic == "fulfillment.events"


def test_the_order_of_a_message_is_its_order_id_or_none(
    payloads: dict[str, dict[str, Any]],
) -> None:
    placed = current(payloads, "OrderPlaced.v2")
    received = current(payloads, "StockReceived.v1")

    assert order_id_of(placed) == placed.order_id
    assert order_id_of(received) is None


def good(payloads: dict[str, dict[str, Any]]) -> tuple[bytes, list[tuple[str, bytes]]]:
    encoded = encode(current(payloads, "OrderPlaced.v2"))
    return encoded.value, encoded.headers


def with_header(
    headers: list[tuple[str, bytes]], name: str, value: bytes
) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]


def test_garbage_is_malformed_and_kept(payloads: dict[str, dict[str, Any]]) -> None:
    _, headers = good(payloads)

    with pytest.raises(MalformedMessage) as raised:
        decode(b"\x00\xffnot json", [])
    with pytest.raises(InvalidEvent) as invalid_json:
        decode(b"{not json", headers)

    assert raised.value.raw == b"\x00\xffnot json"
    assert invalid_json.value.raw == b"{not json"


@pytest.mark.parametrize(
    ("header", "value", "error"),
    [
        ("ce_type", b"orderflow.OrderTeleported.v1", UnknownEventType),
        ("ce_type", b"orderflow.OrderPlaced.v9", UnknownEventType),
        ("ce_type", b"com.example.Other", UnknownEventType),
        ("ce_specversion", b"0.3", MalformedMessage),
        ("content-type", b"application/avro", MalformedMessage),
        ("ce_id", b"00000000-0000-0000-0000-000000000000", InvalidEvent),
        ("ce_type", b"\xff\xfe", MalformedMessage),
        ("ce_id", b"\xff\xfe", MalformedMessage),
    ],
)
def test_wrong_headers_are_typed_errors(
    payloads: dict[str, dict[str, Any]], header: str, value: bytes, error: type[DecodeError]
) -> None:
    body, headers = good(payloads)

    with pytest.raises(error) as raised:
        decode(body, with_header(headers, header, value))

    assert raised.value.raw == body
    assert dict(raised.value.headers)[header] == value


def test_headers_decoding_does_not_read_are_left_alone(payloads: dict[str, dict[str, Any]]) -> None:
    # Given a valid event whose producer added a header of its own, not UTF-8, in any case
    body, headers = good(payloads)
    headers = [(name.upper(), value) for name, value in headers] + [("x-trace", b"\xff\xfe")]

    # When it is decoded, then it is the event: only the CloudEvents attributes are read
    assert str(decode(body, headers).event_id) == json.loads(body)["event_id"]


def test_a_wrong_schema_names_the_field(payloads: dict[str, dict[str, Any]]) -> None:
    body, headers = good(payloads)
    payload = json.loads(body)
    payload["lines"][0]["quantity"] = 0

    with pytest.raises(InvalidEvent) as raised:
        decode(json.dumps(payload).encode(), headers)

    assert raised.value.field == "lines.0.quantity"
    assert raised.value.reason == "invalid"
    assert "lines.0.quantity" in str(raised.value)


def test_an_oversized_payload_is_refused_unread(payloads: dict[str, dict[str, Any]]) -> None:
    _, headers = good(payloads)

    with pytest.raises(MessageTooLarge):
        decode(b" " * (MAX_MESSAGE_BYTES + 1), headers)


def test_a_message_without_a_body_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="no body"):
        decode(None, [("ce_specversion", b"1.0")])


def test_a_decoded_event_is_the_latest_version(payloads: dict[str, dict[str, Any]]) -> None:
    v1 = payloads["OrderPlaced.v1"]
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", v1["event_id"].encode()),
        ("ce_type", b"orderflow.OrderPlaced.v1"),
        ("ce_source", b"/orderflow/intake"),
        ("content-type", b"application/json"),
    ]

    event = decode(json.dumps(v1).encode(), headers)

    assert isinstance(event, OrderPlaced)
    assert event.version == 2
