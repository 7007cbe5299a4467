"""The committed JSON Schemas and AsyncAPI document are exactly what the models generate, and
the JSON Schemas, read by an independent validator, accept the fixtures and refuse bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from orderflow.schemas.artifacts import expected_files
from orderflow.schemas.compat import schema_name
from orderflow.schemas.registry import MESSAGES
from orderflow.schemas.topics import ALL_TOPICS, DEAD_LETTERS

pytestmark = pytest.mark.unit


def test_committed_documents_match_the_models(schemas_folder: Path) -> None:
    stale = [
        relative
        for relative, content in expected_files().items()
        if not (schemas_folder / relative).exists()
        or (schemas_folder / relative).read_text() != content
    ]

    assert stale == [], f"run `make schemas`: {stale}"


def schema_of(schemas_folder: Path, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((schemas_folder / "json" / f"{name}.json").read_text())
    return schema


def test_each_schema_accepts_its_fixture(
    schemas_folder: Path, released: str, payloads: dict[str, dict[str, Any]]
) -> None:
    schema = schema_of(schemas_folder, released)
    jsonschema.Draft202012Validator.check_schema(schema)

    jsonschema.validate(payloads[released], schema, cls=jsonschema.Draft202012Validator)


def test_a_schema_refuses_an_unknown_field(
    schemas_folder: Path, released: str, payloads: dict[str, dict[str, Any]]
) -> None:
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(
            {**payloads[released], "surprise": True}, schema_of(schemas_folder, released)
        )


def test_a_schema_refuses_a_float_amount(
    schemas_folder: Path, payloads: dict[str, dict[str, Any]]
) -> None:
    payload = payloads["PaymentAuthorized.v1"]
    as_float = {**payload, "amount": {"amount": 49.88, "currency": "EUR"}}

    with pytest.raises(jsonschema.ValidationError, match="is not of type 'string'"):
        jsonschema.validate(as_float, schema_of(schemas_folder, "PaymentAuthorized.v1"))


def test_a_schema_refuses_a_currency_that_is_not_an_iso_code(
    schemas_folder: Path, payloads: dict[str, dict[str, Any]]
) -> None:
    payload = payloads["PaymentAuthorized.v1"]
    lower_case = {**payload, "amount": {"amount": "49.88", "currency": "eur"}}

    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(lower_case, schema_of(schemas_folder, "PaymentAuthorized.v1"))


def test_every_constraint_is_checked_in_pydantic_core_and_published() -> None:
    """A constraint written after a validator in `Annotated` is checked by a Python function
    and left out of the JSON Schema (the currency pattern once was): none may be."""
    checked_in_python = {}
    for cls in MESSAGES:
        found = re.findall(r"<function (\w+_validator) at", repr(cls.__pydantic_core_schema__))
        if found:
            checked_in_python[schema_name(cls)] = sorted(set(found))

    assert checked_in_python == {}


def test_asyncapi_lists_every_event_topic_with_its_key(schemas_folder: Path) -> None:
    document = yaml.safe_load((schemas_folder / "asyncapi.yaml").read_text())

    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(ALL_TOPICS) - {DEAD_LETTERS}
    for message in document["components"]["messages"].values():
        assert message["bindings"]["kafka"]["key"]["description"]
