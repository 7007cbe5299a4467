"""What every service's translate function shares: the envelope of a published event, and the
table from a domain event class to the function that builds its integration event.

The event id is derived from the domain event (its aggregate and version), so an event the
relay publishes twice is the same event to every reader, analytics included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from hashlib import sha1
from typing import Any
from uuid import NAMESPACE_URL, UUID

from orderflow.schemas.envelope import IntegrationEvent

#: Domain event and its envelope in, integration event out.
Builder = Callable[[Any, dict[str, Any]], IntegrationEvent]


def envelope(source: str, domain_event: Any, position: int) -> dict[str, Any]:
    origin = f"orderflow:{source}/{domain_event.originator_id}/{domain_event.originator_version}"
    stable = _uuid5_url(origin)
    return {
        "event_id": stable,
        "occurred_at": domain_event.timestamp,
        "source": source,
        "source_position": position,
        # an event that carries no story of its own (a stock receipt) starts one
        "correlation_id": getattr(domain_event, "correlation_id", stable),
        "causation_id": getattr(domain_event, "caused_by", None),
    }


_URL_NAMESPACE = NAMESPACE_URL.bytes
# uuid5's version (5) and variant (RFC 4122) bits, set on the hash as one integer
_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5 = (0x5000 << 64) | (0x8000 << 48)


def _uuid5_url(name: str) -> UUID:
    """`uuid5(NAMESPACE_URL, name)` without its per-call import, namespace conversion and
    byte-level version setting: the relay derives one per event it publishes."""
    digest = sha1(_URL_NAMESPACE + name.encode()).digest()  # noqa: S324 - as uuid5 does
    return UUID(int=int.from_bytes(digest[:16]) & _KEEP | _VERSION_5)


class Translator:
    """`builders` by the domain event's qualified name (`"Order.Placed"`: the library makes one
    class per `@event` method, named after the event); other events stay private."""

    def __init__(self, source: str, builders: Mapping[str, Builder]) -> None:
        self.source, self.builders = source, dict(builders)

    def __call__(self, domain_event: Any, position: int) -> IntegrationEvent | None:
        build = self.builders.get(type(domain_event).__qualname__)
        return build(domain_event, envelope(self.source, domain_event, position)) if build else None

    def publishes(self, topic: str) -> bool:
        """Whether a stored event of this topic (`module:Order.Placed`) is published: the relay
        leaves the others, most of a service's events, unread."""
        return topic.rpartition(":")[2] in self.builders


def translator(source: str, builders: Mapping[str, Builder]) -> Translator:
    return Translator(source, builders)
