"""One reader of the tracking feed per process, for every live page it serves.

Each open stream used to ask the database for its updates twice a second, news or not: 500 open
pages cost the tracking process a third of a core on SQLite, for nothing most of the time (a
customer's order changes a handful of times a day). The bell reads the feed once per poll, for
every page at once (which orders changed, and their channels), and rings only the streams
those updates concern; a stream asks the database for its own updates when rung, and once per
keep-alive besides (a safety net). A rebuild's swap rings every stream, which then goes on in
the new generation."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from prometheus_client import Gauge

from orderflow.projections.tracking import TrackingModel

log = structlog.get_logger("orderflow.tracking.bell")
POLL_S = 0.5
_RETRY_S = 1.0
_READ = 5000  # updates per look: a full one means more are waiting
STREAMS = Gauge("orderflow_tracking_streams", "Live tracking pages (event streams) open now.")


@dataclass(frozen=True)
class Interest:
    """What a stream shows: one channel's orders, or one order."""

    channel: str | None = None
    order_id: str | None = None


class FeedBell:
    def __init__(self, live: Callable[[], TrackingModel], poll_s: float = POLL_S) -> None:
        self._live, self._poll_s = live, poll_s
        self._listeners: dict[Interest, set[asyncio.Event]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None

    @property
    def listening(self) -> int:
        return sum(len(bells) for bells in self._listeners.values())

    @contextmanager
    def listen(self, interest: Interest) -> Iterator[asyncio.Event]:
        """A bell rung on each update `interest` covers (and on a swap), while in the block.
        Listen before reading where the stream starts: an update in between rings it."""
        bell = asyncio.Event()
        self._listeners[interest].add(bell)
        STREAMS.inc()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="tracking-feed-bell")
        try:
            yield bell
        finally:
            STREAMS.dec()
            self._listeners[interest].discard(bell)
            if not self._listeners[interest]:
                del self._listeners[interest]

    async def _read(self) -> None:
        """Follow the feed while anyone listens; the last to leave ends it. A failure (the
        database away for a moment) rings every stream, which then reads for itself, and the
        reader starts over after a pause: open pages are never left without their news."""
        while self._listeners:
            try:
                await self._follow()
            except Exception as error:  # logged, and every stream reads for itself meanwhile
                log.warning("tracking feed reader retrying", error=str(error))
                self._ring_all()
                await asyncio.sleep(_RETRY_S)

    async def _follow(self) -> None:
        """From the live generation's newest update on, until a rebuild swaps in another."""
        model = await asyncio.to_thread(self._live)
        position = await asyncio.to_thread(model.last_change)
        self._ring_all()  # a stream that read where it starts before this position: again
        while self._listeners:
            await asyncio.sleep(self._poll_s)
            if (await asyncio.to_thread(self._live)).generation != model.generation:
                return  # start over in the new one, every stream rung
            position = await self._ring_news(model, position)

    async def _ring_news(self, model: TrackingModel, position: int) -> int:
        while True:
            news = await asyncio.to_thread(model.touched, position, _READ)
            for seq, order_id, channel in news:
                self._ring(Interest(order_id=order_id))
                self._ring(Interest(channel=channel))
                position = seq
            if len(news) < _READ:
                return position

    def _ring(self, interest: Interest) -> None:
        for bell in self._listeners.get(interest, ()):
            bell.set()

    def _ring_all(self) -> None:
        for bells in self._listeners.values():
            for bell in bells:
                bell.set()
