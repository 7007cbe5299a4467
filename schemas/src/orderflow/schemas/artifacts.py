"""Generated contract documents, committed under `schemas/`: a JSON Schema per message type and
version (`json/<Type>.v<N>.json`) and one AsyncAPI 3.0 document (`asyncapi.yaml`).

`make schemas` writes them (`python -m orderflow.schemas.artifacts <dir>`); a test fails when the
committed files differ from the models, so the documents never drift from the code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from orderflow.schemas import topics
from orderflow.schemas.compat import check, json_schema, schema_name
from orderflow.schemas.envelope import Message
from orderflow.schemas.registry import LATEST, MESSAGES
from orderflow.schemas.upcasters import UPCASTERS

KAFKA_BINDING = "0.5.0"
_HEADERS_SCHEMA = {
    "type": "object",
    "description": "CloudEvents Kafka protocol binding, binary content mode.",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "equals the body's event_id"},
        "ce_type": {"type": "string", "pattern": r"^orderflow\.[A-Za-z]+\.v\d+$"},
        "ce_source": {"type": "string", "description": "/orderflow/<service> or /channels/<id>"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the partition key"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context, when traced"},
    },
}


def json_schemas() -> dict[str, dict[str, Any]]:
    return {f"{schema_name(cls)}.json": json_schema(cls) for cls in MESSAGES}


def asyncapi() -> dict[str, Any]:
    latest = sorted(LATEST.values(), key=lambda cls: cls.event_type())
    _, definitions = models_json_schema(
        [(cls, "validation") for cls in latest], ref_template="#/components/schemas/{model}"
    )
    schemas = dict(definitions.get("$defs", {}))
    channels, operations, messages = {}, {}, {}
    for topic in topics.ALL_TOPICS:
        carried = _messages_on(topic, latest)
        if not carried:
            continue
        channel_id = _identifier(topic)
        channels[channel_id] = _channel(topic, carried)
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{c.event_type()}"} for c in carried
            ],
        }
        for cls in carried:
            messages[cls.event_type()] = _message(cls)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "orderflow integration events",
            "version": "1.0.0",
            "description": "Events the orderflow services exchange over Kafka. Bodies are JSON; "
            "CloudEvents attributes travel in ce_* headers (binary mode). Money amounts are "
            "decimal strings with an ISO 4217 currency.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _messages_on(topic: str, latest: list[type[Message]]) -> list[type[Message]]:
    inbound = topics.INBOUND_ON.get(topic, ())
    return [
        c
        for c in latest
        if topics.PUBLISHED_ON[c.event_type()] == topic or c.event_type() in inbound
    ]


def _channel(topic: str, carried: list[type[Message]]) -> dict[str, Any]:
    refs = {c.event_type(): {"$ref": f"#/components/messages/{c.event_type()}"} for c in carried}
    return {
        "address": topic,
        "messages": refs,
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
    }


def _message(cls: type[Message]) -> dict[str, Any]:
    return {
        "name": cls.event_type(),
        "title": f"{cls.event_type()} v{cls.event_version()}",
        "summary": (cls.__doc__ or cls.event_type()).strip().splitlines()[0],
        "contentType": "application/json",
        "headers": _HEADERS_SCHEMA,
        "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": _key_doc(cls)},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _key_doc(cls: type[Message]) -> str:
    if "order_id" in cls.model_fields:
        return "order id"
    if "sku" in cls.model_fields:
        return "SKU"
    return "<channel>:<external_id>"


def _identifier(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def render_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def render_asyncapi() -> str:
    return yaml.safe_dump(asyncapi(), sort_keys=False, width=100, allow_unicode=True)


def expected_files() -> dict[str, str]:
    """Every generated file, by its path relative to the `schemas/` folder."""
    files = {f"json/{name}": render_json(schema) for name, schema in json_schemas().items()}
    files["asyncapi.yaml"] = render_asyncapi()
    return files


def write(folder: Path) -> list[Path]:
    written = []
    for relative, content in expected_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            written.append(path)
    return written


def main(folder: Path) -> int:
    """Regenerate, unless the models break a released version (then say why and change nothing)."""
    problems = check(MESSAGES, UPCASTERS, folder / "json")
    for problem in problems:
        print(f"incompatible: {problem}", file=sys.stderr)
    if problems:
        return 1
    for changed in write(folder):
        print(f"wrote {changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")))
