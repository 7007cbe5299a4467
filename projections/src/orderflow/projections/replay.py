"""`orderflow replay <projection>`: rebuild a read model from the beginning of the topics into
a new table generation while the live one keeps serving, then swap it in.

The rebuild consumes in the new generation's own consumer group, so when it swaps, the running
projection worker moves to that group and carries on from exactly where the rebuild stopped:
no event is missed between the rebuild catching up and the worker taking over. An event that
arrives during the rebuild is in both generations' streams and applied once in each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Sequence

from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import (
    live_generation,
    new_generation,
    prepare,
    swap,
)
from orderflow.projections.model import ReadModel
from orderflow.projections.worker import DATABASE, EVENT_TOPICS, PROJECTIONS, group_of
from orderflow.projections.worker import projection_loop as loop_of
from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.deadletters import read_all
from orderflow.runtime.inbox import Applied
from orderflow.runtime.settings import Settings
from orderflow.runtime.watermarks import Watermarks, trimmed, watermarks
from orderflow.schemas.envelope import Message

#: Caught up: every message counted at the start has been read, and the last batch came short
#: of a full one (the loop found no more waiting: it is at the head, however busy the topics)
#: or nothing came for _QUIET_S. Should the start's count be too high (a broker's counts can be
#: off), nothing coming for _SILENT_S after something did ends it too: long enough that a
#: stalled broker or a slow batch mid-rebuild does not swap in a half-built model.
_QUIET_S, _SILENT_S = 1.0, 30.0
_FIRST_EVENT_WITHIN_S = 120.0


class RebuildFailed(RuntimeError):
    """The rebuild could not read the topics; the live generation was left as it was."""


Progress = Callable[[int, int], None]  # (events read, events on the topics at the start)


def rebuild(
    projection: str,
    settings: Settings,
    on_progress: Progress | None = None,
    database_name: str = DATABASE,
    topics: Sequence[str] = EVENT_TOPICS,
    allow_trimmed: bool = False,
) -> int:
    """Rebuild `projection`; answers the generation now live. Topics the broker has trimmed
    are refused unless `allow_trimmed` (see `refuse_trimmed`)."""
    model_type = PROJECTIONS[projection]
    if not allow_trimmed:
        refuse_trimmed(watermarks(settings.kafka_bootstrap, topics))
    database = ReadDatabase(settings, database_name)
    try:
        prepare(database)
        generation = new_generation(database, projection)
        model = model_type(database, generation)
        group = group_of(projection, generation, database_name)
        sent = _letters_of_generations(settings, projection, database_name)
        _fill(model.apply, settings, group, topics, on_progress, sent)
        if not allow_trimmed:
            live = model_type(database, live_generation(database, projection))
            refuse_lost(live, model)
        swap(database, projection, generation, model_type.all_tables())
        return generation
    finally:
        database.close()


def refuse_trimmed(found: Watermarks) -> None:
    """A rebuild reads the topics from their start. If the broker has deleted older events
    (a retention shorter than forever), it would swap in a read model without those orders
    and say nothing: refuse, and say how to recover. After the topics were refilled from the
    stores (`orderflow republish`, which appends every stored event again), the rebuild is
    whole again and `allow_trimmed` lets it run."""
    cut = trimmed(found)
    if not cut:
        return
    where = ", ".join(
        f"{topic} partition {p} from offset {low:,}" for (topic, p), low in cut.items()
    )
    raise RebuildFailed(
        f"the topics no longer hold their oldest events ({where}): the broker deleted them, "
        "so the rebuilt read model would lack those orders. Keep the event topics for good "
        "(retention.ms -1), refill them from the stores with `orderflow republish SERVICE` "
        "for each service, then replay with --allow-trimmed"
    )


def refuse_lost(live: ReadModel, rebuilt: ReadModel) -> None:
    """Refuse a rebuild that lacks events the live read model applied: the topics were lost or
    made anew since (an embedded broker keeps them in memory only, so a restarted local stack
    starts them empty while the stores and read models keep everything). Such topics start at
    offset 0 like whole ones, so `refuse_trimmed` cannot see it; the read models' inboxes can.
    For each source service, the live model must hold nothing older than the oldest event the
    rebuild read from it, and nothing at all of a source the rebuild read nothing from. (Events
    that arrive while the rebuild ends are newer than what it read, so they never count.)"""
    had, got = _oldest_per_source(live), _oldest_per_source(rebuilt)
    lost = {
        source: (oldest, got.get(source))
        for source, oldest in had.items()
        if source not in got or oldest < got[source]
    }
    if not lost:
        return
    where = ", ".join(
        f"{source} from position {oldest:,} in the live model but "
        + (f"from {first:,} on the topics" if first is not None else "none on the topics")
        for source, (oldest, first) in sorted(lost.items())
    )
    raise RebuildFailed(
        f"the topics no longer hold events the live read model applied ({where}): they were "
        "lost or made anew, so the rebuilt read model would lack those orders; the live one "
        "is kept. Refill the topics from the stores with `orderflow republish SERVICE` for "
        "each service, then replay again (or replay with --allow-trimmed to accept the loss)"
    )


def _oldest_per_source(model: ReadModel) -> dict[str, int]:
    with model.db.reading(model.tables) as cursor:
        cursor.execute(
            f"SELECT source, min(position) FROM {{s}}{model.name}_inbox GROUP BY source"  # noqa: S608 - our name
        )
        return {str(source): int(oldest) for source, oldest in cursor.fetchall()}


def _letters_of_generations(
    settings: Settings, projection: str, database_name: str
) -> set[tuple[str, int, int]]:
    """The messages (topic, partition, offset) a generation of this read model has sent a
    dead letter for: a rebuild reads them again, and another letter under its own group
    doubled them (and the dashboard's count) at every replay. Any generation, not the live
    one alone: one that left a letter out has none of its own for the next rebuild to see. A
    message the new code cannot read and the old code applied has no letter, and gets one."""
    stem = group_of(projection, 0, database_name).removesuffix("0")  # `….tracking.g`
    return {
        letter.original
        for letter in read_all(settings.kafka_bootstrap)
        if letter.group.startswith(stem) and letter.group[len(stem) :].isdigit()
    }


def _fill(
    apply: Callable[[Sequence[Message]], Applied],
    settings: Settings,
    group: str,
    topics: Sequence[str],
    on_progress: Progress | None,
    sent: Container[tuple[str, int, int]],
) -> None:
    """Read the topics into the new generation until caught up. A message that cannot be read
    is dead-lettered unless it is among those `sent` a letter already."""
    total = sum(high - low for low, high in watermarks(settings.kafka_bootstrap, topics).values())
    stopping, failures = threading.Event(), list[BaseException]()
    loop = loop_of(
        apply, settings.kafka_bootstrap, topics, group, stopping, letters_sent_elsewhere=sent
    )

    def consume() -> None:
        try:
            loop.run()
        except BaseException as error:
            failures.append(error)

    worker = threading.Thread(target=consume, name=f"replay-{group}", daemon=True)
    started = time.monotonic()
    worker.start()
    try:
        while worker.is_alive() and not _caught_up(loop, total, started):
            if on_progress is not None:
                on_progress(loop.taken, total)
            time.sleep(0.1)
    finally:
        stopping.set()
        worker.join()
    if failures:
        raise RebuildFailed(f"reading the topics failed: {failures[0]}") from failures[0]
    if on_progress is not None:
        on_progress(loop.taken, total)


def _caught_up(loop: ConsumerLoop, total: int, started: float) -> bool:
    """Counts every message the loop is done with, dead-lettered ones included: counting only
    those applied, a topic holding one unreadable message never reached the start's count,
    and each rebuild waited for _SILENT_S of silence."""
    read, (size, last_at) = loop.taken, loop.last_batch
    at_head = 0 < size < loop.batch_size
    quiet = time.monotonic() - (last_at or started)
    if read >= total and (at_head or quiet > _QUIET_S):
        return True
    if read == 0 and time.monotonic() - started > _FIRST_EVENT_WITHIN_S:
        raise RebuildFailed(f"no event read in {_FIRST_EVENT_WITHIN_S:.0f} s")
    return read > 0 and quiet > _SILENT_S
