"""`orderflow replay <projection>`, added to the `orderflow` command by this package's
`orderflow.commands` entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from orderflow.projections.replay import RebuildFailed, rebuild
from orderflow.projections.worker import PROJECTIONS
from orderflow.runtime.commands import settings_or_exit
from orderflow.runtime.ops_cli import console, progress_bar


def replay(
    projection: Annotated[str, typer.Argument(help="tracking or analytics")],
) -> None:
    """Rebuild a read model from the beginning of the topics into new tables; the old ones
    serve reads until the new ones have caught up and are swapped in."""
    if projection not in PROJECTIONS:
        typer.echo(f"orderflow: no projection {projection!r} ({', '.join(PROJECTIONS)})", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    try:
        with progress_bar(f"replay {projection}") as update:
            generation = rebuild(projection, settings, update)
    except RebuildFailed as error:
        typer.echo(f"orderflow: {error}; the live read model is unchanged", err=True)
        raise typer.Exit(1) from None
    console.print(f"{projection}: generation {generation} is live")
