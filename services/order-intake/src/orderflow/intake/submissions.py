"""Orders placed over HTTP, saved together: the requests waiting at one moment go to the store in
one transaction (`Intake.submit_all`), and each answer goes back to its request when that
transaction commits, never before.

One writer thread takes whatever requests are waiting, saves them and answers them, then takes
the next lot. Under load, the lots grow while the transaction before them commits; with one
request at a time, each is saved at once, as on its own. Each request once cost a transaction
and a hand-off to the API's threadpool (whose wake-up was 13% of intake's time, py-spy --gil)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from orderflow.intake.application import Answer, Intake
from orderflow.schemas.orders import OrderSubmitted

#: Requests in one transaction at most: a few milliseconds of work, so none waits for long.
MAX_LOT = 200
#: Requests waiting to be stored at most; more are turned away at once (503, Retry-After) rather
#: than queued: past a few lots' worth, a request waits seconds, its client times out and sends
#: it again, and an unbounded queue only grows intake's memory and every answer's wait.
MAX_WAITING = 1000


class Overloaded(Exception):
    """More requests are waiting to be stored than intake takes: try again in a moment."""


@dataclass(frozen=True)
class _Request:
    submission: OrderSubmitted
    key: str
    answer: asyncio.Future[Answer]


class Submissions:
    def __init__(self, app: Intake) -> None:
        self.app = app
        self._waiting: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()

    async def submit(self, submission: OrderSubmitted, key: str) -> Answer:
        """`Intake.submit`'s answer (or its refusal, raised), once the order is stored."""
        self._start()
        if self._waiting.qsize() >= MAX_WAITING:
            raise Overloaded(f"{MAX_WAITING} orders are waiting to be stored; try again")
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.put(_Request(submission, key, answer))
        return await answer

    def _start(self) -> None:
        # at the first request, not at import: a process that serves none runs no writer
        with self._starting:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="submissions", daemon=True)
                self._writer.start()

    def _write(self) -> None:
        while True:
            lot = [self._waiting.get()]
            while len(lot) < MAX_LOT and not self._waiting.empty():
                lot.append(self._waiting.get_nowait())
            try:
                outcomes = self.app.submit_all([(r.submission, r.key) for r in lot])
            except Exception as failure:  # the store is unreachable, say: each request says so
                outcomes = [failure] * len(lot)
            _answer(lot, outcomes)


def _answer(lot: Sequence[_Request], outcomes: Sequence[Answer | Exception]) -> None:
    """Hand each outcome to its request's event loop (one call per loop, not per request)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Request, Answer | Exception]]] = {}
    for request, outcome in zip(lot, outcomes, strict=True):
        by_loop.setdefault(request.answer.get_loop(), []).append((request, outcome))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed, its requests with it
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: Sequence[tuple[_Request, Answer | Exception]]) -> None:
    for request, outcome in answers:
        if request.answer.done():
            continue  # the request was cancelled (its client went away)
        if isinstance(outcome, Exception):
            request.answer.set_exception(outcome)
        else:
            request.answer.set_result(outcome)
