"""Server-sent events of order updates (a new step, with the order's status), read from the
tracking model's feed.

Each event's id is `<generation>.<sequence number>`, so a browser that reconnects sends
`Last-Event-ID` and misses nothing. A rebuild swaps in a new generation whose numbering starts
again: a stream goes on from the new generation's latest change, and so does a reconnection
that names an older generation (a stream that replays an order's steps replays them instead).
A comment line every few seconds keeps proxies from closing an idle stream. A stream reads the
feed only when the process's one reader of it (`FeedBell`) says its updates have news."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from orderflow.projections.tracking import CHANGES_PAGE, TrackingModel
from orderflow.tracking.bell import FeedBell, Interest

KEEPALIVE_S = 10.0

Changes = Callable[[TrackingModel, int], list[dict[str, Any]]]


@dataclass(frozen=True)
class EventId:
    generation: int | None  # None: a bare sequence number, taken as the live generation's
    seq: int


def event_stream(
    request: Request,
    live: Callable[[], TrackingModel],
    changes: Changes,
    resume: EventId | None,
    bell: FeedBell,
    interest: Interest,
    replay: bool = False,
) -> StreamingResponse:
    """Updates after `resume`; without one (or one of a generation since replaced), from the
    feed's newest, or from its first when `replay`."""
    return StreamingResponse(
        _events(request, live, changes, resume, replay, bell, interest),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


#: A number as our ids write it: ASCII digits (str.isdigit also takes "²"), and few enough to
#: be a database integer.
_NUMBER = re.compile(r"[0-9]{1,18}")


def last_event_id(request: Request) -> EventId | None:
    """The id a reconnecting browser sends; None for one we cannot have given."""
    generation, _, seq = request.headers.get("last-event-id", "").rpartition(".")
    if not _NUMBER.fullmatch(seq) or not (generation == "" or _NUMBER.fullmatch(generation)):
        return None
    return EventId(int(generation) if generation else None, int(seq))


def _start(model: TrackingModel, resume: EventId | None, replay: bool) -> int:
    if resume is None or resume.generation not in (None, model.generation):
        return 0 if replay else model.last_change()
    newest = model.last_change()
    if resume.seq > newest:  # past the newest update: not an id this feed gave
        return 0 if replay else newest
    return resume.seq


async def _events(
    request: Request,
    live: Callable[[], TrackingModel],
    changes: Changes,
    resume: EventId | None,
    replay: bool,
    bell: FeedBell,
    interest: Interest,
) -> AsyncIterator[str]:
    with bell.listen(interest) as rung:  # before the start is read: news after it rings
        model = await asyncio.to_thread(live)
        position = await asyncio.to_thread(_start, model, resume, replay)
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            rung.clear()  # before reading: news that comes during the read rings again
            current = await asyncio.to_thread(live)
            if current.generation != model.generation:
                model, position = current, await asyncio.to_thread(current.last_change)
            found = await asyncio.to_thread(changes, model, position)
            for change in found:
                position = change["seq"]
                event_id = f"{model.generation}.{position}"
                yield f"id: {event_id}\nevent: status\ndata: {json.dumps(change)}\n\n"
            if len(found) < CHANGES_PAGE and not await _rung_within(rung, KEEPALIVE_S):
                yield ": keep-alive\n\n"


async def _rung_within(bell: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(bell.wait(), seconds)
    except TimeoutError:
        return False
    return True
