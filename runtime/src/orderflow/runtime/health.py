"""The HTTP routes every service has: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import cast

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orderflow.runtime.metrics import READY

Check = Callable[[], None]  # raises when the dependency is unreachable


class CachedCheck:
    """Readiness probes come often; ask the broker at most every few seconds. A check that
    does not answer within `within` (a database that is down holds a connection request for
    the pool's whole 5 s) is reported as not answering, and goes on in the background: the
    probe and the scrape answer in time, and no second copy of it starts meanwhile."""

    def __init__(
        self, check: Check, runner: Executor, ttl: float = 3.0, within: float = 2.0
    ) -> None:
        self.check, self.runner, self.ttl, self.within = check, runner, ttl, within
        self._at, self._error = -ttl, cast(str | None, None)
        self._running: Future[None] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._error
            if self._running is None:
                self._running = self.runner.submit(self.check)
            running = self._running
        try:
            running.result(timeout=self.within)
            error = None
        except FutureTimeout:
            return f"no answer within {self.within:.0f} s"
        except Exception as failed:
            error = f"{type(failed).__name__}: {failed}"
        with self._lock:
            self._running, self._error, self._at = None, error, time.monotonic()
        return error


def health_routes(checks: dict[str, Check], fresh: dict[str, Check] | None = None) -> APIRouter:
    """`checks` are asked at most every few seconds; `fresh` ones (cheap) at every probe."""
    router = APIRouter(tags=["operations"])
    # one thread per check at most: a check still running is waited on, not started again
    runner = ThreadPoolExecutor(len(checks) + len(fresh or {}) or 1, "health-check")
    cached = {name: CachedCheck(check, runner) for name, check in checks.items()}
    cached |= {name: CachedCheck(check, runner, ttl=0.0) for name, check in (fresh or {}).items()}

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
