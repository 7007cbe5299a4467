"""The HTTP routes every service has: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import cast

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orderflow.runtime.metrics import READY

Check = Callable[[], None]  # raises when the dependency is unreachable


class CachedCheck:
    """Readiness probes come often; ask the broker at most every few seconds."""

    def __init__(self, check: Check, ttl: float = 3.0) -> None:
        self.check, self.ttl = check, ttl
        self._at, self._error = -ttl, cast(str | None, None)

    def __call__(self) -> str | None:
        if time.monotonic() - self._at >= self.ttl:
            try:
                self.check()
                self._error = None
            except Exception as error:
                self._error = f"{type(error).__name__}: {error}"
            self._at = time.monotonic()
        return self._error


def health_routes(checks: dict[str, Check], fresh: dict[str, Check] | None = None) -> APIRouter:
    """`checks` are asked at most every few seconds; `fresh` ones (cheap) at every probe."""
    router = APIRouter(tags=["operations"])
    cached = {name: CachedCheck(check) for name, check in checks.items()}
    cached |= {name: CachedCheck(check, ttl=0.0) for name, check in (fresh or {}).items()}

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is alive and serving."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        responses={503: {"description": "Unready: the checks name what does not answer."}},
    )
    def readyz() -> JSONResponse:
        """The broker and the store answer and the consumer has joined its group; 503 names
        what is not so."""
        results = {name: check() for name, check in cached.items()}
        ready = all(error is None for error in results.values())
        body = {
            "status": "ready" if ready else "unready",
            "checks": {name: error or "ok" for name, error in results.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        for name, check in cached.items():
            READY.labels(name).set(0 if check() else 1)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def is_ready(base_url: str, timeout: float = 2.0) -> bool:
    """The service at `base_url` answers /readyz with 200 (for `orderflow up` and tests)."""
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=timeout) as answer:  # noqa: S310 - our own services
            return bool(answer.status == 200)
    except OSError:
        return False
