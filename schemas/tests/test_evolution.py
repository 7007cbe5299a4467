"""Contracts evolve without breaking replay: every released version keeps parsing, and a
backward-incompatible change is caught unless the version is bumped with an upcaster."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import Field

from orderflow.schemas import registry
from orderflow.schemas.common import Code, Identifier, Sku
from orderflow.schemas.compat import breaking_changes, check, json_schema
from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.orders import OrderCancelled, OrderPlaced
from orderflow.schemas.upcasters import UPCASTERS

pytestmark = pytest.mark.unit


def test_every_released_version_has_a_fixture(payloads: dict[str, dict[str, Any]]) -> None:
    released = {f"{t}.v{v}" for t, v in registry.BY_TYPE_AND_VERSION}

    assert set(payloads) == released


def test_a_released_payload_still_parses_as_the_latest_version(
    released: str, payloads: dict[str, dict[str, Any]]
) -> None:
    payload = payloads[released]
    old = registry.BY_TYPE_AND_VERSION[(payload["type"], payload["version"])]

    upcast = registry.upcast(
        payload["type"], old.model_validate_json(json.dumps(payload)).model_dump(mode="json")
    )

    latest = registry.LATEST[payload["type"]].model_validate_json(json.dumps(upcast))
    assert latest.event_id == UUID(payload["event_id"])


def test_order_placed_v1_gains_its_total_on_the_way_up(payloads: dict[str, dict[str, Any]]) -> None:
    v1 = payloads["OrderPlaced.v1"]

    v2 = OrderPlaced.model_validate_json(json.dumps(UPCASTERS[("OrderPlaced", 1)](v1)))

    assert v2.total.amount == Decimal("49.88")  # 2 x 19.99 + 5.00 + 4.90 shipping
    assert v2.total.currency == "EUR"


def test_the_models_are_compatible_with_every_released_schema(schemas_folder: Path) -> None:
    assert check(registry.MESSAGES, UPCASTERS, schemas_folder / "json") == []


# Deliberately broken copies of OrderCancelled v1, as a careless change would make them.
class RenamedField(IntegrationEvent):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    version: Literal[1] = 1
    order_id: UUID
    cancel_reason: Code
    detail: str | None = None


class NarrowedType(IntegrationEvent):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    version: Literal[1] = 1
    order_id: UUID
    reason: Literal["customer_request"]
    detail: str | None = None


class NewRequiredField(OrderCancelled):
    cancelled_by: Identifier


class BumpedWithoutUpcaster(IntegrationEvent):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    version: Literal[2] = 2
    order_id: UUID
    reason_code: Code


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (RenamedField, "$.reason: field removed or renamed"),
        (NarrowedType, "$.reason: allowed values narrowed"),
        (NewRequiredField, "$.cancelled_by: field became required"),
    ],
)
def test_an_incompatible_change_fails_the_check(
    schemas_folder: Path, broken: type[Message], complaint: str
) -> None:
    messages = [cls for cls in registry.MESSAGES if cls is not OrderCancelled] + [broken]

    problems = check(messages, UPCASTERS, schemas_folder / "json")

    assert any(complaint in problem for problem in problems), problems


def test_a_new_version_needs_an_upcaster_when_it_breaks(schemas_folder: Path) -> None:
    messages = [*registry.MESSAGES, BumpedWithoutUpcaster]

    without = check(messages, UPCASTERS, schemas_folder / "json")
    with_upcaster = check(
        messages, {**UPCASTERS, ("OrderCancelled", 1): lambda p: p}, schemas_folder / "json"
    )

    assert any("needs an upcaster from v1" in problem for problem in without), without
    assert with_upcaster == []


def test_a_dropped_released_version_fails_the_check(schemas_folder: Path) -> None:
    messages = [cls for cls in registry.MESSAGES if cls.__name__ != "OrderPlacedV1"]

    problems = check(messages, UPCASTERS, schemas_folder / "json")

    assert problems == ["OrderPlaced.v1: released but no model reads it any more"]


def test_widening_is_compatible() -> None:
    class Narrow(IntegrationEvent):
        type: Literal["X"] = "X"
        version: Literal[1] = 1
        sku: Sku
        quantity: Annotated[int, Field(ge=1, le=10)]

    class Wider(IntegrationEvent):
        type: Literal["X"] = "X"
        version: Literal[1] = 1
        sku: Sku
        quantity: Annotated[int, Field(ge=1, le=100)]
        note: str | None = None

    assert breaking_changes(json_schema(Narrow), json_schema(Wider)) == []
    assert breaking_changes(json_schema(Wider), json_schema(Narrow)) != []
