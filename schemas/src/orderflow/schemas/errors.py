"""Why a message could not be decoded: typed, with the field and the raw bytes kept, so a
consumer can dead-letter it with a reason and an operator can replay it after a fix."""

from __future__ import annotations

from collections.abc import Sequence


class DecodeError(Exception):
    """A message we cannot turn into a contract model."""

    reason = "undecodable"

    def __init__(
        self,
        detail: str,
        raw: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        field: str | None = None,
    ) -> None:
        where = f" at {field}" if field else ""
        super().__init__(f"{self.reason}{where}: {detail}")
        self.detail = detail
        self.raw = raw
        self.headers = list(headers)
        self.field = field


class MalformedMessage(DecodeError):
    """Not a CloudEvent in binary mode, or a body that is not JSON."""

    reason = "malformed"


class UnknownEventType(DecodeError):
    """A well-formed message of a type or version we never released."""

    reason = "unknown_type"


class InvalidEvent(DecodeError):
    """A known type whose payload breaks its contract."""

    reason = "invalid"


class MessageTooLarge(DecodeError):
    reason = "too_large"
