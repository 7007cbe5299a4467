"""`orderflow dlq list|show|replay`: look at dead letters and send them back once fixed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orderflow.runtime import deadletters
from orderflow.runtime.commands import settings_or_exit

dlq = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)
console = Console()


@dlq.command("list")
def list_letters(
    group: Annotated[str | None, typer.Option(help="Only this consumer group's.")] = None,
) -> None:
    """Every dead letter: where it came from, for which group, and why."""
    letters = deadletters.read_all(settings_or_exit().kafka_bootstrap)
    if group is not None:
        letters = [letter for letter in letters if letter.group == group]
    table = Table(title=f"Dead letters ({len(letters)})", title_justify="left")
    for column in ("ref", "at", "group", "from", "reason", "field", "error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.ref,
            letter.at[:19],
            letter.group,
            f"{letter.topic}[{letter.source_partition}]@{letter.source_offset}",
            letter.reason,
            letter.field or "",
            letter.error[:80],
        )
    console.print(table)


@dlq.command()
def show(
    ref: Annotated[str, typer.Argument(help="partition:offset, as `dlq list` shows it")],
) -> None:
    """One dead letter in full: reason, headers and the original bytes."""
    [letter] = _select(settings_or_exit().kafka_bootstrap, [ref])
    console.print(
        f"[bold]{letter.ref}[/bold] from {letter.topic}[{letter.source_partition}]"
        f"@{letter.source_offset}, group {letter.group}, at {letter.at}"
    )
    console.print(f"reason: {letter.reason}" + (f" (field {letter.field})" if letter.field else ""))
    console.print(f"error: {letter.error}")
    console.print(f"key: {letter.key!r}")
    for name, value in letter.headers:
        console.print(f"header {name}: {value!r}")
    console.print("value:", (letter.value or b"").decode(errors="replace"), markup=False)


@dlq.command()
def replay(
    refs: Annotated[list[str] | None, typer.Argument(help="partition:offset of each")] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Publish dead letters to their original topics again (after fixing the cause)."""
    if bool(refs) == every:  # neither, or both: which was meant is not ours to guess
        typer.echo(
            "orderflow: name dead letters by partition:offset, or pass --all (not both)", err=True
        )
        raise typer.Exit(2)
    bootstrap = settings_or_exit().kafka_bootstrap
    chosen = deadletters.read_all(bootstrap) if every else _select(bootstrap, refs or [])
    count = deadletters.replay(bootstrap, chosen)
    console.print(f"replayed {count} messages from {len(chosen)} dead letters")


def _select(bootstrap: str, refs: list[str]) -> list[deadletters.DeadLetter]:
    try:
        return deadletters.select(deadletters.read_all(bootstrap), refs)
    except LookupError as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
