"""What every message carries besides its payload.

Integration events carry their source service and their position in that service's notification
log: that pair is what a consumer's tracking record stores, so a redelivered event is recognised
and has no second effect. Channel messages come from outside and have no such log; they are
deduplicated by (channel, external id) instead.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from pydantic import Field, StringConstraints

from orderflow.schemas.common import UtcDatetime, utc_now
from orderflow.schemas.model import Model

ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
]


class Message(Model):
    """Fields shared by every message on our topics. Each concrete class pins `type` and
    `version` with a Literal default, so a payload names its own shape."""

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int
    occurred_at: UtcDatetime = Field(default_factory=utc_now)
    correlation_id: UUID
    causation_id: UUID | None = None

    @classmethod
    def event_type(cls) -> str:
        return str(cls.model_fields["type"].default)

    @classmethod
    def event_version(cls) -> int:
        return int(cls.model_fields["version"].default)


def order_id_of(message: Message) -> UUID | None:
    """The order a message is about; None when its contract has no order id. Read from the
    model's fields, not with getattr: on a contract without the field, pydantic's __getattr__
    raises and catches an AttributeError, 7 us per message on the relay's and consumers' paths."""
    order_id: UUID | None = vars(message).get("order_id")
    return order_id


class IntegrationEvent(Message):
    """An event a service publishes from its event store."""

    source: ServiceName
    source_position: int = Field(ge=1, le=2**63 - 1)
