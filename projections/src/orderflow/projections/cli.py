"""`orderflow replay <projection>...`, added to the `orderflow` command by this package's
`orderflow.commands` entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from orderflow.projections.replay import RebuildFailed, rebuild
from orderflow.projections.side_by_side import STOPPED, live_generations, rebuild_side_by_side
from orderflow.projections.worker import DATABASE, EVENT_TOPICS, PROJECTIONS
from orderflow.runtime.commands import settings_or_exit, stop_on_signals
from orderflow.runtime.ops_cli import console, progress_bar, progress_bars
from orderflow.runtime.settings import Settings
from orderflow.runtime.watermarks import watermarks


def replay(
    projections: Annotated[
        list[str], typer.Argument(help="tracking, analytics, or both (each in its own process)")
    ],
    allow_trimmed: Annotated[
        bool,
        typer.Option(
            help="Rebuild even though the broker deleted the topics' oldest events: only once"
            " they were refilled from the stores (orderflow republish)."
        ),
    ] = False,
) -> None:
    """Rebuild read models from the beginning of the topics into new tables; the old ones
    serve reads until the new ones have caught up and are swapped in."""
    unknown = [name for name in projections if name not in PROJECTIONS]
    if unknown:
        typer.echo(f"orderflow: no projection {unknown[0]!r} ({', '.join(PROJECTIONS)})", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    # the broker asked once before any rebuild starts: one that does not answer is then one
    # line (`orderflow: Kafka: …`), not a failure and a traceback per rebuild process
    watermarks(settings.kafka_bootstrap, EVENT_TOPICS)
    stop_on_signals()  # SIGTERM stops a replay as Ctrl-C does: before its swap, cleanly
    names = list(dict.fromkeys(projections))  # each once, in the order asked
    if len(names) == 1:
        _replay_one(names[0], settings, allow_trimmed)
        return
    with progress_bars([f"replay {name}" for name in names]) as update:
        outcome = rebuild_side_by_side(
            names,
            settings,
            lambda name, read, total: update(f"replay {name}", read, total),
            allow_trimmed=allow_trimmed,
        )
    for name in names:
        if name in outcome.generations:
            console.print(f"{name}: generation {outcome.generations[name]} is live")
        else:
            why = outcome.failures[name]
            typer.echo(f"orderflow: {name}: {why}; its live read model is unchanged", err=True)
    if STOPPED in outcome.failures.values():
        raise typer.Exit(130)
    if outcome.failures:
        raise typer.Exit(1)


def _replay_one(projection: str, settings: Settings, allow_trimmed: bool) -> None:
    live_before = live_generations(settings, DATABASE, [projection])
    try:
        with progress_bar(f"replay {projection}") as update:
            generation = rebuild(projection, settings, update, allow_trimmed=allow_trimmed)
    except RebuildFailed as error:
        typer.echo(f"orderflow: {error}; the live read model is unchanged", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the rebuild's own clean-up has run
        live_now = live_generations(settings, DATABASE, [projection])
        if live_now == live_before:
            typer.echo(
                f"orderflow: {projection}: {STOPPED}; its live read model is unchanged", err=True
            )
            raise typer.Exit(130) from None
        generation = live_now[projection]  # the stop came after the swap
    console.print(f"{projection}: generation {generation} is live")
