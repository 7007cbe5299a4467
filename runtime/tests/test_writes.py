"""A service's threads hear of a write to its event store when it is committed."""

from __future__ import annotations

import threading

from orderflow.runtime.writes import Writes

PATIENCE_S = 30.0  # only bounds a broken wait; a working one returns on the write


def test_a_write_after_the_one_seen_ends_the_wait_at_once() -> None:
    writes = Writes()
    seen = writes.count
    writes.announce()

    assert writes.wait_after(seen, PATIENCE_S) == seen + 1


def test_a_write_from_another_thread_wakes_the_waiter() -> None:
    writes = Writes()
    seen = writes.count
    waiting = threading.Thread(target=writes.announce)

    waiting.start()
    woken = writes.wait_after(seen, PATIENCE_S)
    waiting.join()

    assert woken == seen + 1


def test_no_write_ends_the_wait_when_the_time_is_over() -> None:
    writes = Writes()

    assert writes.wait_after(writes.count, 0.01) == 0
