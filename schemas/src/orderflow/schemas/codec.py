"""Messages on Kafka: JSON bodies, CloudEvents' Kafka protocol binding in binary mode.

The CloudEvents attributes go in `ce_*` headers, so a router can read the type without parsing
the body; the body is the whole contract model, so a consumer that ignores headers (an analytics
job reading the topic) still sees type, version and ids."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import ValidationError

from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.errors import (
    InvalidEvent,
    MalformedMessage,
    MessageTooLarge,
    UnknownEventType,
)
from orderflow.schemas.registry import BY_TYPE_AND_VERSION, LATEST, upcast
from orderflow.schemas.topics import key_of, topic_of

CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"
MAX_MESSAGE_BYTES = 512 * 1024  # far above any real order; stops a runaway producer's payload
_CE_TYPE = re.compile(r"^orderflow\.([A-Za-z]+)\.v(\d{1,4})$")

Headers = list[tuple[str, bytes]]
#: Headers as a consumer receives them: librdkafka gives a missing value as None.
ReceivedHeaders = Sequence[tuple[str, bytes | None]] | None


class Encoded(NamedTuple):  # a tuple: the relay makes one per event it publishes
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def ce_type(message: Message) -> str:
    return f"orderflow.{message.type}.v{message.version}"


def ce_source(message: Message) -> str:
    if isinstance(message, IntegrationEvent):
        return f"/orderflow/{message.source}"
    return f"/channels/{getattr(message, 'channel', 'unknown')}"


def encode(message: Message, traceparent: str | None = None) -> Encoded:
    key = key_of(message)
    headers: Headers = [
        _SPEC_VERSION_HEADER,
        ("ce_id", str(message.event_id).encode()),
        _header("ce_type", ce_type(message)),
        _header("ce_source", ce_source(message)),
        ("ce_time", message.occurred_at.isoformat().replace("+00:00", "Z").encode()),
        _CONTENT_TYPE_HEADER,
        ("ce_subject", key.encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return Encoded(topic_of(message), key.encode(), message.model_dump_json().encode(), headers)


# the relay encodes every event it publishes: headers that repeat are encoded once
_SPEC_VERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


@functools.lru_cache(maxsize=1024)  # types and sources: a few dozen; channels: a few more
def _header(name: str, value: str) -> tuple[str, bytes]:
    return name, value.encode()


def contract_type(headers: ReceivedHeaders) -> str | None:
    """The contract a message's ce_type header names (`StockReserved`), read without parsing
    the body; None when the header is missing or names no known contract and version."""
    for name, data in headers or ():
        if name.lower() == "ce_type":
            cls = _known_class(data or b"")
            return None if cls is None else _TYPE_NAMES[cls]
    return None


def decode(value: bytes | None, headers: ReceivedHeaders) -> Message:
    """The latest version of the message, or a typed `DecodeError` that says why not."""
    if value is None:
        raise MalformedMessage("message has no body", None, _raw(headers))
    if len(value) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"{len(value)} bytes > {MAX_MESSAGE_BYTES}", value, _raw(headers))
    type_header, id_header = _attributes(value, headers)
    cls = _message_class(type_header, value, headers)
    message = _validate(cls, value, headers)
    if str(message.event_id).encode() != id_header:
        _require_utf8(id_header, value, headers)
        raise InvalidEvent("ce_id header differs from event_id", value, _raw(headers), "event_id")
    return message


def _require_utf8(data: bytes, value: bytes, headers: ReceivedHeaders) -> None:
    try:
        data.decode()
    except UnicodeDecodeError:
        raise MalformedMessage("headers are not UTF-8", value, _raw(headers)) from None


def _raw(headers: ReceivedHeaders) -> Headers:
    """The headers as a dead letter keeps them: a missing value as empty bytes."""
    return [(name, data or b"") for name, data in headers or ()]


#: The CloudEvents attributes decoding reads; other headers pass through unread.
_ATTRIBUTES = frozenset({"ce_specversion", "content-type", "ce_type", "ce_id"})
_SPEC_VERSION_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()


def _attributes(value: bytes, headers: ReceivedHeaders) -> tuple[bytes, bytes]:
    """The ce_type and ce_id headers of a CloudEvent with a JSON body. Read as the bytes they
    arrive as: turning every header into text first took a fifth of decoding a message."""
    found: dict[str, bytes] = {}
    for name, data in headers or ():
        lowered = name.lower()
        if lowered in _ATTRIBUTES:
            found[lowered] = data or b""
    if found.get("ce_specversion") != _SPEC_VERSION_BYTES:
        raise MalformedMessage("not a CloudEvent: ce_specversion 1.0 missing", value, _raw(headers))
    content_type = found.get("content-type", _CONTENT_TYPE_BYTES).split(b";")[0]
    if content_type != _CONTENT_TYPE_BYTES:
        raise MalformedMessage(f"content-type must be {CONTENT_TYPE}", value, _raw(headers))
    return found.get("ce_type", b""), found.get("ce_id", b"")


#: Each released contract by the ce_type header we write for it, so a known type is one lookup.
_BY_TYPE_HEADER: dict[bytes, type[Message]] = {
    f"orderflow.{name}.v{version}".encode(): cls
    for (name, version), cls in BY_TYPE_AND_VERSION.items()
}


#: And each contract's type name.
_TYPE_NAMES: dict[type[Message], str] = {
    cls: name for (name, _), cls in BY_TYPE_AND_VERSION.items()
}


def _known_class(type_header: bytes) -> type[Message] | None:
    """The released contract a ce_type header names, or None."""
    cls = _BY_TYPE_HEADER.get(type_header)
    if cls is not None:
        return cls
    match = _CE_TYPE.match(type_header.decode("utf-8", "replace"))
    return None if match is None else BY_TYPE_AND_VERSION.get((match[1], int(match[2])))


def _message_class(type_header: bytes, value: bytes, headers: ReceivedHeaders) -> type[Message]:
    cls = _known_class(type_header)
    if cls is not None:
        return cls
    _require_utf8(type_header, value, headers)
    text = type_header.decode()
    if _CE_TYPE.match(text) is None:
        raise UnknownEventType(
            f"ce_type {text!r} is not orderflow.<Type>.v<N>", value, _raw(headers)
        )
    raise UnknownEventType(f"no contract for {text}", value, _raw(headers))


#: The latest version of every type: a message of one of these needs no upcasting.
_CURRENT: frozenset[type[Message]] = frozenset(LATEST.values())


def _validate(cls: type[Message], value: bytes, headers: ReceivedHeaders) -> Message:
    try:
        message = cls.model_validate_json(value)
        if cls in _CURRENT:
            return message
        payload = upcast(cls.event_type(), message.model_dump(mode="json"))
        return LATEST[cls.event_type()].model_validate_json(json.dumps(payload))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        detail = (
            first["msg"]
            if error.error_count() == 1
            else f"{first['msg']} (+{error.error_count() - 1} more)"
        )
        raise InvalidEvent(detail, value, _raw(headers), field) from None
