"""Server-sent events of order updates (a new step, with the order's status), read from the
tracking model's feed.

Each event carries the change's sequence number as its id, so a browser that reconnects sends
`Last-Event-ID` and misses nothing. A comment line every few seconds keeps proxies from closing
an idle stream. When a rebuild swaps in a new generation, numbering starts again: the stream
goes on from the new generation's latest change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from orderflow.projections.tracking import TrackingModel

POLL_S = 0.5
KEEPALIVE_S = 10.0

Changes = Callable[[TrackingModel, int], list[dict[str, Any]]]


def event_stream(
    request: Request, live: Callable[[], TrackingModel], changes: Changes, after: int | None
) -> StreamingResponse:
    return StreamingResponse(
        _events(request, live, changes, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def last_event_id(request: Request) -> int | None:
    given = request.headers.get("last-event-id", "")
    return int(given) if given.isdigit() else None


async def _events(
    request: Request, live: Callable[[], TrackingModel], changes: Changes, after: int | None
) -> AsyncIterator[str]:
    model = await asyncio.to_thread(live)
    position = after if after is not None else 0
    quiet_since = time.monotonic()
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        current = await asyncio.to_thread(live)
        if current.generation != model.generation:
            model, position = current, await asyncio.to_thread(current.last_change)
        found = await asyncio.to_thread(changes, model, position)
        for change in found:
            position = change["seq"]
            yield f"id: {position}\nevent: status\ndata: {json.dumps(change)}\n\n"
        if found:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
