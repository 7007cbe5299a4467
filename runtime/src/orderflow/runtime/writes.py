"""Tells the threads of a service process that its event store was written to, so the relay and
the workers that follow the store start at once rather than at their next poll. A write by
another instance of the service wakes them too where a lease's holder hears of it (see
`lease`): the others still poll, only less often than they would need to without this.

Standing-by followers ring the holder after this process's own writes only (`own`): ringing
after any wake-up, a ring heard included, made two instances ring each other for ever when
each held one of two leases."""

from __future__ import annotations

import threading


class Writes:
    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()
        self.newest = 0  # the highest notification id this process has written, where known
        self.own = 0  # this process's writes so far, for a standby to ring after

    @property
    def count(self) -> int:
        """Writes so far: what a waiter passes to `wait_after` to hear of the next one."""
        return self._count

    def announce(self, newest: int | None = None) -> None:
        """This process wrote, up to notification `newest`."""
        with self._changed:
            # `own` first: a standby that reads `count` without the lock and sees this write
            # then sees it in `own` too, and rings for it
            self.own += 1
            self.newest = max(self.newest, newest or 0)
            self._count += 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Another process wrote (a lease's holder heard of it): wake the waiters."""
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_after(self, seen: int, timeout: float) -> int:
        """Wait until there was a write after the `seen`-th (at once if there was one) or the
        timeout is over; the count now."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)
            return self._count
