"""`orderflow replay tracking analytics`: several rebuilds at once, each in a process of its own.

In one process the rebuilds would share one interpreter lock, and each spends most of its CPU
decoding and preparing rows; processes use every core. Each rebuild is the single one of
`replay.rebuild`, with its own generation, consumer group and swap: one failing leaves the
others' swaps as they are, and its own live tables unchanged."""

from __future__ import annotations

import multiprocessing
import queue
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from types import FrameType

import psycopg
from confluent_kafka import KafkaException

from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation, prepare
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
    live_before = live_generations(settings, database_name, projections)
    outcome, running = Outcome(), set(children)  # what the children said, kept across a stop
    try:
        _start(children.values())
        _collect(children, reports, on_progress, outcome, running)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (`stop_on_signals`): stop every rebuild
        _stop(children, reports, outcome, running)
        _judge_stopped(outcome, live_before, settings, database_name)
    except BaseException:  # an error of the parent's own: no rebuild goes on unwatched
        _stop(children, reports, outcome, running)
        raise
    finally:
        for child in children.values():
            if _started(child):
                child.join()
    return outcome


def _started(child: SpawnProcess) -> bool:
    return child.is_alive() or child.exitcode is not None


def live_generations(
    settings: Settings, database_name: str, projections: Sequence[str]
) -> dict[str, int]:
    database = ReadDatabase(settings, database_name)
    try:
        prepare(database)
        return {name: live_generation(database, name) for name in projections}
    finally:
        database.close()


def _start(children: Iterable[SpawnProcess]) -> None:
    """Start the children with Ctrl-C ignored, which they keep until they set up their own
    handling: one pressed while they start up would print each one's traceback."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        for child in children:
            child.start()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _stop(
    children: dict[str, SpawnProcess],
    reports: multiprocessing.Queue[Report],
    outcome: Outcome,
    running: set[str],
) -> None:
    """Ask each child still running to stop (SIGTERM: it leaves its group and its tables
    unswapped), wait for them to end, and take what they said before they did."""
    for name in running:
        if children[name].is_alive():
            children[name].terminate()
    for name in running:
        if not _started(children[name]):  # the stop came while the children started
            continue
        children[name].join(_STOP_WITHIN_S)
        if children[name].is_alive():
            children[name].kill()
            children[name].join()  # a killed swap's commit is in or out by now
    _take_waiting(reports, outcome, running, None)


def _judge_stopped(
    outcome: Outcome, live_before: dict[str, int], settings: Settings, database_name: str
) -> None:
    """A rebuild that has not said how it ended was stopped: before its swap, or after it
    with no time to say so. The live generations tell which."""
    live_now = live_generations(settings, database_name, sorted(live_before))
    for name, before in live_before.items():
        if name in outcome.generations or name in outcome.failures:
            continue
        if live_now[name] != before:
            outcome.generations[name] = live_now[name]
        else:
            outcome.failures[name] = STOPPED


def _collect(
    children: dict[str, SpawnProcess],
    reports: multiprocessing.Queue[Report],
    on_progress: Progress | None,
    outcome: Outcome,
    running: set[str],
) -> None:
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
        reports.put((projection, "progress", *last, ""))  # the bar ends at the count read
        reports.put((projection, "done", generation, 0, ""))
    except RebuildFailed as error:
        reports.put((projection, "failed", 0, 0, str(error)))
    except KafkaException as error:  # the broker went away: said in a line, as the CLI does
        reports.put((projection, "failed", 0, 0, f"Kafka: {kafka.reason_of(error)}"))
    except psycopg.OperationalError as error:
        reports.put((projection, "failed", 0, 0, f"PostgreSQL: {error}"))
    except sqlite3.OperationalError as error:  # the read models' file: locked, full, unreadable
        reports.put((projection, "failed", 0, 0, f"SQLite: {error}"))
    except KeyboardInterrupt:  # the parent's SIGTERM: the rebuild's own clean-up has run;
        pass  # the parent tells from the live generations whether it swapped
    # said: a stop now would only cut the sending of the report short, with a traceback
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_on_sigterm() -> None:
    """A child stops when its parent says so (SIGTERM), not on a Ctrl-C of its own: the
    terminal sends SIGINT to the whole process group, and the parent then stops each child
    once, in order, rather than each printing the traceback of its interruption."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be cut
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, interrupt)
