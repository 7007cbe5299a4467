"""HTTP rules every service's API keeps: a bounded request body (413), malformed JSON as 400 (not
FastAPI's 422, which means "valid JSON, wrong fields"), a store or broker that is away for a
moment as 503 with Retry-After, and a JSON error body that says why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow.runtime.retry import TRANSIENT

log = structlog.get_logger("orderflow.http")

MAX_BODY_BYTES = 256 * 1024
#: The `Idempotency-Key` header of a request that must take effect once (placing an order, a
#: refunded return): the same key and body always get the first answer.
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class BodyLimit:
    """Refuses a body over the limit with 413, by its Content-Length or, sent in chunks, as it
    arrives. The body is read here, whole, before the route starts: a refusal raised while
    FastAPI reads it would come out as its 400 "error parsing the body"."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:  # gone before it finished sending
            return
        if len(body) > self.limit:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit or not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body is larger than {self.limit // 1024} KiB"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the client's own (a stream waits on them for the end)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems: list[dict[str, Any]] = list(error.errors())
    malformed = [p for p in problems if p.get("type") == "json_invalid"]
    if malformed:
        context = malformed[0].get("ctx") or {}
        detail = f"malformed JSON: {context.get('error', 'cannot be parsed')}"
        return JSONResponse({"detail": _safe(detail)}, status_code=400)
    return JSONResponse({"detail": [_safe_problem(p) for p in problems]}, status_code=422)


def _safe_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's 422 body (type, loc, msg, input, ctx), with every value one JSON can carry."""
    kept = {key: problem[key] for key in ("type", "loc", "msg", "input", "ctx") if key in problem}
    return {key: _safe(value) for key, value in kept.items()}


_SHOWN_CHARS, _SHOWN_ITEMS, _SHOWN_DEPTH = 200, 20, 4


def _safe(value: Any, depth: int = 0) -> Any:
    """A rejected input as an error body can show it. Written out as it came, some values fail
    the answer itself (a 500): JSON has no NaN or infinity, UTF-8 no lone surrogate, and an
    integer of 5,000 digits is refused by str(); worse, FastAPI writes a Decimal with an
    exponent (1E+999999999) as an integer, which took minutes of a service's CPU."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        if depth >= _SHOWN_DEPTH:
            return "…"
        items = list(value.items())[:_SHOWN_ITEMS]
        return {str(_safe(k, depth + 1)): _safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        if depth >= _SHOWN_DEPTH:
            return "…"
        return [_safe(item, depth + 1) for item in value[:_SHOWN_ITEMS]]
    text = value if isinstance(value, str) else str(value)  # Decimal: 1E+999999999, cheaply
    return text[:_SHOWN_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


async def _unavailable(request: Request, error: Exception) -> Response:
    """A store or the broker away for a moment (a restart, a failover, a lock held too long):
    503 with a retry hint, not a 500 and a traceback; the next request uses a new connection."""
    log.warning("request failed for a transient reason", path=request.url.path, error=str(error))
    detail = "a database or the broker is unavailable for a moment; try again"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


def harden(api: FastAPI) -> FastAPI:
    api.add_middleware(BodyLimit)
    api.add_exception_handler(RequestValidationError, _invalid_request)
    for transient in TRANSIENT:
        if issubclass(transient, Exception):  # every one is; the tuple is typed more widely
            api.add_exception_handler(transient, _unavailable)
    return api
