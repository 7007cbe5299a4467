"""What every `orderflow` command shares: settings validated first (a bad one is one line and
exit 2), Ctrl-C and SIGTERM as the same clean stop, and a broker that cannot start as one line
and exit 1."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

from orderflow.runtime import kafka
from orderflow.runtime.broker import BrokerFailed
from orderflow.runtime.fleet import PortTaken
from orderflow.runtime.settings import Settings, SettingsInvalid, load_settings


def settings_or_exit() -> Settings:
    """The process's settings; from here on its Kafka clients carry the Kafka options."""
    try:
        settings = load_settings(Settings)
    except SettingsInvalid as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(2) from None
    kafka.use_options(settings.kafka_options)
    return settings


#: Whether a stop signal came. A plain flag, not an Event: a handler that sets an Event can
#: wait for ever on the lock an interrupted earlier handler holds (two Ctrl-Cs at once).
_stop_asked: list[int] = []


def stop_on_signals() -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C, and make Ctrl-C (SIGINT) work even
    when the parent started us with SIGINT ignored, as a shell does for a background job:
    Python then installs no handler of its own and SIGINT would do nothing."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if _stop_asked:  # already stopping: a second Ctrl-C must not cut the clean-up short,
            return  # which would leave a producer open as the broker goes (it takes seconds)
        _stop_asked.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


@contextmanager
def stopped_cleanly(farewell: str = "stopped") -> Iterator[None]:
    """Around a long-running command: Ctrl-C or SIGTERM (see `stop_on_signals`) ends it with
    `farewell`, and a broker that cannot start, or a service port held by another process,
    with one line and exit 1."""
    try:
        yield
    except typer.Exit:
        raise
    except (BrokerFailed, PortTaken) as error:
        typer.echo(f"orderflow: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo(farewell)
    except Exception:
        # The signal's KeyboardInterrupt, raised inside C code, can come out as another error:
        # confluent-kafka's config parsing turns it into a TypeError
        if not _stop_asked:
            raise
        typer.echo(farewell)
