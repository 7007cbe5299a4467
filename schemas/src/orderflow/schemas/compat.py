"""Backward compatibility of the contracts: can a reader built from today's models still read
every payload a released version allowed? Stored events are replayed for years, so the answer
must be yes, or the version is bumped and an upcaster bridges the gap.

Released versions are the committed `json/<Type>.v<N>.json` files. A change is breaking when an
old payload would be refused: a field removed or renamed, a new required field, a type or a
range narrowed, an allowed value dropped, a pattern changed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orderflow.schemas.envelope import Message

Schema = dict[str, Any]
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Why a payload valid under `old` may be refused under `new` (empty: compatible)."""
    return _compare(old, new, old, new, "$")


def check(
    messages: Iterable[type[Message]], upcasters: Mapping[tuple[str, int], object], released: Path
) -> list[str]:
    """Problems that make the models incompatible with the released schemas in `released`."""
    problems: list[str] = []
    modelled = set()
    for cls in messages:
        name, version = schema_name(cls), cls.event_version()
        modelled.add(name)
        current = json_schema(cls)
        same = released / f"{name}.json"
        if same.exists():
            problems += [f"{name}: {p}; bump the version" for p in _diff(same, current)]
            continue
        previous = released / f"{cls.event_type()}.v{version - 1}.json"
        if previous.exists() and (cls.event_type(), version - 1) not in upcasters:
            problems += [
                f"{name}: {p}; needs an upcaster from v{version - 1}"
                for p in _diff(previous, current)
            ]
    for path in sorted(released.glob("*.json")):
        if path.stem not in modelled:
            problems.append(f"{path.stem}: released but no model reads it any more")
    return problems


def schema_name(cls: type[Message]) -> str:
    return f"{cls.event_type()}.v{cls.event_version()}"


def json_schema(cls: type[Message]) -> Schema:
    """The published JSON Schema of one message version."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:orderflow:schema:{schema_name(cls)}",
        **cls.model_json_schema(mode="validation"),
        "title": schema_name(cls),
    }


def _diff(released: Path, current: Schema) -> list[str]:
    return breaking_changes(json.loads(released.read_text()), current)


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        pointer = schema["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in pointer:
            target = target[part]
        schema = target
    return schema


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_branches, new_branches = old.get("anyOf", [old]), new.get("anyOf", [new])
    if len(old_branches) > 1 or len(new_branches) > 1:
        problems = []
        for branch in old_branches:
            tries = [_compare(branch, b, old_root, new_root, path) for b in new_branches]
            if all(tries):
                problems.append(f"{path}: a {_kind(branch, old_root)} value is no longer accepted")
        return problems
    return [
        *_narrowed_type(old, new, path),
        *_narrowed_values(old, new, path),
        *_narrowed_bounds(old, new, path),
        *_changed_properties(old, new, old_root, new_root, path),
        *_changed_items(old, new, old_root, new_root, path),
    ]


def _kind(schema: Schema, root: Schema) -> str:
    return str(_resolve(schema, root).get("type", "schema"))


def _types(schema: Schema) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return {"any"}
    return set(declared) if isinstance(declared, list) else {declared}


def _narrowed_type(old: Schema, new: Schema, path: str) -> list[str]:
    old_types, new_types = _types(old), _types(new)
    if "number" in new_types:
        new_types.add("integer")  # every integer is a number: widening, not narrowing
    if "any" in new_types or old_types <= new_types:
        return []
    return [f"{path}: type narrowed from {sorted(old_types)} to {sorted(new_types)}"]


def _allowed(schema: Schema) -> set[Any] | None:
    if "const" in schema:
        return {json.dumps(schema["const"])}
    if "enum" in schema:
        return {json.dumps(value) for value in schema["enum"]}
    return None


def _narrowed_values(old: Schema, new: Schema, path: str) -> list[str]:
    old_values, new_values = _allowed(old), _allowed(new)
    if new_values is None or (old_values is not None and old_values <= new_values):
        return []
    dropped = "any value" if old_values is None else ", ".join(sorted(old_values - new_values))
    return [f"{path}: allowed values narrowed (no longer {dropped})"]


def _narrowed_bounds(old: Schema, new: Schema, path: str) -> list[str]:
    problems = []
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{path}: {key} narrowed to {new[key]}")
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{path}: {key} raised to {new[key]}")
    if "pattern" in new and new["pattern"] != old.get("pattern"):
        problems.append(f"{path}: pattern changed to {new['pattern']!r}")
    return problems


def _changed_properties(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str
) -> list[str]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    closed = new.get("additionalProperties") is False
    problems = []
    for name, schema in old_props.items():
        if name in new_props:
            problems += _compare(schema, new_props[name], old_root, new_root, f"{path}.{name}")
        elif closed:
            problems.append(f"{path}.{name}: field removed or renamed")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}.{name}: field became required")
    if closed and old.get("additionalProperties") is not False and "properties" in old:
        problems.append(f"{path}: unknown fields are now refused")
    return problems


def _changed_items(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str
) -> list[str]:
    if "items" in old and "items" in new:
        return _compare(old["items"], new["items"], old_root, new_root, f"{path}[]")
    return []
