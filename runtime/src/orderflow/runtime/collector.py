"""Garbage-collector settings for orderflow's long-running processes.

Our work allocates in bursts: a batch of a few thousand decoded events, their aggregates and
their rows lives for one transaction, then goes. With CPython's defaults a collection starts
every 700 new container objects, and every hundredth one walks the whole heap: the modules,
contracts and classes loaded at start-up, which never become garbage. Measured on a rebuild of
the tracking model, that was over a tenth of the process's CPU.

So, once start-up is done, its objects are moved out of the collector's sight (`gc.freeze`),
and collections start less often. Reference counting still frees almost everything at once;
the collector is only for cycles, which our code rarely makes, so memory stays where it was
(see `service_rss_mb_max` in docs/benchmarks.md)."""

from __future__ import annotations

import gc

#: New container objects before a young collection (CPython: 700), and how many collections of
#: one generation before the next is collected (CPython: 10, 10).
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Freeze what exists now (start-up's objects) and collect less often from here on.
    Called again once a process has wired itself up, to freeze what that loaded too."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
