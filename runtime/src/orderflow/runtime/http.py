"""HTTP rules every service's API keeps: a bounded request body (413), malformed JSON as 400 (not
FastAPI's 422, which means "valid JSON, wrong fields"), a store or broker that is away for a
moment as 503 with Retry-After, and a JSON error body that says why."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
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


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a body over the limit, by its Content-Length or, when streamed, as it arrives."""

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
        received, started = 0, False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body is larger than {self.limit // 1024} KiB"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems: list[dict[str, Any]] = list(error.errors())
    malformed = [p for p in problems if p.get("type") == "json_invalid"]
    if malformed:
        context = malformed[0].get("ctx") or {}
        detail = f"malformed JSON: {context.get('error', 'cannot be parsed')}"
        return JSONResponse({"detail": detail}, status_code=400)
    return await request_validation_exception_handler(request, error)


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
