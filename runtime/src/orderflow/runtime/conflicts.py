"""Commands outside the consumer (an API call, a worker's step) that load aggregates, change
them and save: a concurrent writer of the same aggregate makes the save a version conflict,
and the command starts over from what is stored now."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")
ATTEMPTS = 5


def retry_on_conflict(attempt: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run `attempt` (load, change, save) until it saves; the last conflict is raised."""
    for number in range(attempts):
        try:
            return attempt()
        except IntegrityError:
            if number == attempts - 1:
                raise
    raise AssertionError("unreachable")
