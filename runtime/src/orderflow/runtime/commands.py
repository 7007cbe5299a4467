"""What every `orderflow` command shares: settings validated first (a bad one is one line and
exit 2), and Ctrl-C and SIGTERM as the same clean stop."""

from __future__ import annotations

import signal
from types import FrameType

import typer

from orderflow.runtime.settings import Settings, SettingsInvalid, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsInvalid as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None


def stop_on_signals() -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C, and make Ctrl-C (SIGINT) work even
    when the parent started us with SIGINT ignored, as a shell does for a background job:
    Python then installs no handler of its own and SIGINT would do nothing."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
