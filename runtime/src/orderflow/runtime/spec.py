"""What a service is, to the runtime: its store, what it consumes and how it reacts, how its
events are published, and its HTTP routes. Each service package exports one `SERVICE`.

A read-side process (the projection workers, the tracking API) has no event store: its spec
has no `application`, and its work runs as `tasks` given the settings."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from fastapi import APIRouter

from orderflow.runtime.consumer import Rescue
from orderflow.runtime.inbox import Finds, Handlers
from orderflow.runtime.relay import Translate
from orderflow.runtime.services import GROUP
from orderflow.runtime.settings import Settings
from orderflow.schemas.envelope import IntegrationEvent


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # names its store (SQLite file or PostgreSQL schema) and its consumer group
    application: Callable[[Mapping[str, str], Settings], Application[UUID]] | None = None
    consumes: Sequence[str] = ()
    handlers: Handlers = field(default_factory=dict)
    finds: Finds | None = None  # what the handlers look for, read for a whole batch at once
    translate: Translate | None = None  # None: the service publishes nothing
    routes: Callable[[Application[UUID] | None, Settings], APIRouter] | None = None
    port_setting: str | None = None  # e.g. "inventory_port"
    topic_for: Callable[[IntegrationEvent], str] | None = None  # default: the contracts' topic
    # The topics its relay writes: found never written while the relay's saved position says it
    # has published (a broker that lost them), it publishes the whole store again.
    publishes_to: Sequence[str] = ()
    group: str | None = None
    rescue: Rescue | None = None  # answers some messages the contracts refuse (see consumer)
    # Background work of the service's own (inventory's reservation expiry), each in a thread
    # of the host until the event is set.
    workers: Sequence[Callable[[Application[UUID], threading.Event], None]] = ()
    # Work that needs no store of the service's own (a projection worker), until the event.
    tasks: Sequence[Callable[[Settings, threading.Event], None]] = ()
    # Readiness checks besides the broker (and the store, when the service has one).
    checks: Callable[[Settings], Mapping[str, Callable[[], None]]] | None = None

    @property
    def consumer_group(self) -> str:
        return self.group or f"orderflow.{self.name}"

    def port(self, settings: Settings) -> int | None:
        return int(getattr(settings, self.port_setting)) if self.port_setting else None


def resolve(name: str) -> ServiceSpec:
    """An installed service by name (`inventory`), or any `module:attribute` reference."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise LookupError(f"no service at {name!r}: {error}") from None
        return _as_spec(found, name)
    for entry in entry_points(group=GROUP, name=name):
        return _as_spec(entry.load(), name)
    raise LookupError(f"no service named {name!r}")


def _as_spec(found: Any, name: str) -> ServiceSpec:
    if isinstance(found, ModuleType):
        found = getattr(found, "SERVICE", None)
    if not isinstance(found, ServiceSpec):
        raise LookupError(f"{name!r} does not export a ServiceSpec as SERVICE")
    return found
