"""An intake HTTP API on a store of the test's own, without a broker (the HTTP path writes to
the store; the relay, which needs the broker, is not part of these tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from fastapi import FastAPI

from orderflow.intake.application import Intake
from orderflow.intake.service import SERVICE
from orderflow.runtime.host import ServiceHost
from orderflow.runtime.settings import Settings

KEYS = {"web": "web-key-0123456789", "marketplace": "marketplace-key-0123"}
WEB = {"Authorization": f"Bearer {KEYS['web']}"}
MARKETPLACE = {"Authorization": f"Bearer {KEYS['marketplace']}"}


def intake_host(settings: Settings, unique: Callable[[str], str]) -> ServiceHost:
    spec = dataclasses.replace(SERVICE, name=unique("intake"))
    return ServiceHost(spec, settings.model_copy(update={"channel_keys": KEYS}))


def api_of(host: ServiceHost) -> tuple[FastAPI, Intake]:
    assert isinstance(host.app, Intake)
    return host.http_app(), host.app


def key(n: int | str) -> dict[str, str]:
    return {**WEB, "Idempotency-Key": f"key-{n}"}
