"""JSON over HTTP to our own services, as any client of theirs would call them: the simulator,
the live view and the audit. A service that is restarting (connection refused or cut, 502,
503) is waited for, up to `patience` seconds; every other refusal is an error that says which
URL answered what. Only idempotent requests are retried: reads, and writes that carry an
idempotency key or a reference the service deduplicates on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

_RESTARTING = frozenset({502, 503, 504})
#: Asks for an answer computed now, not one a service keeps a few seconds for its dashboards.
FRESH = {"Cache-Control": "no-cache"}
_FIRST_WAIT_S, _MOST_WAIT_S = 0.2, 2.0


class ServiceRefused(RuntimeError):
    """The service answered with an error status that waiting does not cure."""

    def __init__(self, url: str, status: int, body: bytes) -> None:
        super().__init__(f"{url} answered {status}: {body[:300]!r}")
        self.status = status


def get_json(
    url: str,
    headers: dict[str, str] | None = None,
    accept: tuple[int, ...] = (200,),
    patience: float = 0.0,
    timeout: float = 30.0,
) -> Any:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our service
    return send(request, accept, patience, timeout)


def get_text(url: str, timeout: float = 10.0) -> str:
    """A plain-text answer (a service's `/metrics`), read once: the caller retries."""
    request = urllib.request.Request(url)  # noqa: S310 - our service
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return str(answer.read().decode())
    except urllib.error.HTTPError as error:
        raise ServiceRefused(url, error.code, error.read()) from None


def post_json(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    accept: tuple[int, ...] = (200, 201, 202),
    patience: float = 0.0,
    method: str = "POST",
) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own service's URL
        url,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    return send(request, accept, patience)


def send(
    request: urllib.request.Request,
    accept: tuple[int, ...],
    patience: float = 0.0,
    timeout: float = 30.0,
) -> Any:
    """The answer's JSON if its status is accepted; waits out a restarting service."""
    deadline, wait = time.monotonic() + patience, _FIRST_WAIT_S
    while True:
        try:
            return _once(request, accept, timeout)
        except ServiceRefused as refused:
            if refused.status not in _RESTARTING or time.monotonic() > deadline:
                raise
        except OSError:  # refused, reset or timed out: the service is not (yet) there
            if time.monotonic() > deadline:
                raise
        time.sleep(wait)
        wait = min(wait * 2, _MOST_WAIT_S)


def _once(request: urllib.request.Request, accept: tuple[int, ...], timeout: float) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        if error.code in accept:
            return json.loads(body or b"null")
        raise ServiceRefused(request.full_url, error.code, body) from None
