"""`orderflow replay tracking analytics`: several rebuilds at once, each in a process of its own.

In one process the rebuilds would share one interpreter lock, and each spends most of its CPU
decoding and preparing rows; processes use every core. Each rebuild is the single one of
`replay.rebuild`, with its own generation, consumer group and swap: one failing leaves the
others' swaps as they are, and its own live tables unchanged."""

from __future__ import annotations

import multiprocessing
import queue
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from types import FrameType

from orderflow.projections.replay import RebuildFailed, rebuild
from orderflow.projections.worker import DATABASE, EVENT_TOPICS
from orderflow.runtime import collector, kafka
from orderflow.runtime.settings import Settings

#: (projection, events read, events on the topics at the start)
Progress = Callable[[str, int, int], None]
#: What a child tells: (projection, "progress" | "done" | "failed", number, number, why)
Report = tuple[str, str, int, int, str]
_REPORT_EVERY_S = 0.25  # progress reports per child: enough for a bar, few for the queue
_STOP_WITHIN_S = 10.0  # a child's stop: it leaves its consumer group and closes its database
STOPPED = "stopped before its swap"


@dataclass
class Outcome:
    """Each projection's new live generation, or why its rebuild failed."""

    generations: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def rebuild_side_by_side(
    projections: Sequence[str],
    settings: Settings,
    on_progress: Progress | None = None,
    database_name: str = DATABASE,
    topics: Sequence[str] = EVENT_TOPICS,
    allow_trimmed: bool = False,
) -> Outcome:
    # spawn, not fork: a forked child would inherit the parent's threads' locks half-held
    context = multiprocessing.get_context("spawn")
    reports: multiprocessing.Queue[Report] = context.Queue()
    children = {
        name: context.Process(
            target=_child,
            args=(name, settings, database_name, list(topics), allow_trimmed, reports),
            name=f"replay-{name}",
        )
        for name in projections
    }
    for child in children.values():
        child.start()
    try:
        return _collect(children, reports, on_progress)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (`stop_on_signals`): stop every rebuild
        return _stop(children, reports)
    finally:
        for child in children.values():
            child.join()


def _stop(children: dict[str, SpawnProcess], reports: multiprocessing.Queue[Report]) -> Outcome:
    """Ask each child to stop (SIGTERM: it leaves its group and its tables unswapped), wait for
    them, and tell what each had done: one may have swapped in just before."""
    for child in children.values():
        if child.is_alive():
            child.terminate()
    for child in children.values():
        child.join(_STOP_WITHIN_S)
        if child.is_alive():
            child.kill()
    outcome, running = Outcome(), set(children)
    _take_waiting(reports, outcome, running, None)
    for name in running:
        outcome.failures[name] = STOPPED
    return outcome


def _collect(
    children: dict[str, SpawnProcess],
    reports: multiprocessing.Queue[Report],
    on_progress: Progress | None,
) -> Outcome:
    outcome, running = Outcome(), set(children)
    while running:
        try:
            _take(reports.get(timeout=0.5), outcome, running, on_progress)
        except queue.Empty:
            ended = {name for name in running if not children[name].is_alive()}
            if ended:  # what an ended child put is in the pipe by now: take it, then judge
                _take_waiting(reports, outcome, running, on_progress)
            for name in ended & running:  # ended without a word: killed, or out of memory
                outcome.failures[name] = f"its process ended with {children[name].exitcode}"
                running.discard(name)
    return outcome


def _take_waiting(
    reports: multiprocessing.Queue[Report],
    outcome: Outcome,
    running: set[str],
    on_progress: Progress | None,
) -> None:
    while True:
        try:
            _take(reports.get(timeout=0.1), outcome, running, on_progress)
        except queue.Empty:
            return


def _take(
    report: Report, outcome: Outcome, running: set[str], on_progress: Progress | None
) -> None:
    name, kind, first, second, why = report
    if kind == "progress" and on_progress is not None:
        on_progress(name, first, second)
    elif kind == "done":
        outcome.generations[name] = first
        running.discard(name)
    elif kind == "failed":
        outcome.failures[name] = why
        running.discard(name)


def _child(
    projection: str,
    settings: Settings,
    database_name: str,
    topics: list[str],
    allow_trimmed: bool,
    reports: multiprocessing.Queue[Report],
) -> None:
    collector.settle()
    kafka.use_options(settings.kafka_options)  # a spawned process starts with none
    _stop_on_sigterm()
    reported_at, last = 0.0, (0, 0)

    def progress(read: int, total: int) -> None:
        nonlocal reported_at, last
        last = (read, total)
        if time.monotonic() - reported_at >= _REPORT_EVERY_S:
            reported_at = time.monotonic()
            reports.put((projection, "progress", read, total, ""))

    try:
        generation = rebuild(projection, settings, progress, database_name, topics, allow_trimmed)
    except RebuildFailed as error:
        reports.put((projection, "failed", 0, 0, str(error)))
        return
    except KeyboardInterrupt:  # the parent's SIGTERM: the rebuild's own clean-up has run
        reports.put((projection, "failed", 0, 0, STOPPED))
        return
    reports.put((projection, "progress", *last, ""))  # the bar ends at the count read
    reports.put((projection, "done", generation, 0, ""))


def _stop_on_sigterm() -> None:
    """A child stops when its parent says so (SIGTERM), not on a Ctrl-C of its own: the
    terminal sends SIGINT to the whole process group, and the parent then stops each child
    once, in order, rather than each printing the traceback of its interruption."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be cut
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, interrupt)
