"""Processes as Linux /proc tells of them: found by their command line (to prove none is left
behind), and the CPU time they have used."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def pids_with_argument(argument: str) -> list[int]:
    """Pids of live processes whose command line contains `argument`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone while we looked
        if state != "Z" and any(argument.encode() in word for word in words):
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) the process has used; None when it is gone, or not on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    user, system = stat.rsplit(")", 1)[1].split()[11:13]  # fields 14 and 15 of stat
    return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """How busy a process has been lately: its share of one core over the last `every`
    seconds or more. CPU time moves in ticks of 10 ms, so a shorter span would say 0% or
    several cores."""

    pid: int
    every: float = 1.0
    used: Callable[[int], float | None] = cpu_seconds  # CPU seconds of a pid so far
    clock: Callable[[], float] = time.monotonic
    _last: tuple[float, float] | None = field(default=None, init=False)  # (clock, CPU time)
    _share: float | None = field(default=None, init=False)

    def share(self) -> float | None:
        """The share of a core last measured; None before a first span, or once it is gone."""
        used, now = self.used(self.pid), self.clock()
        if used is None:
            return None
        if self._last is None:
            self._last = (now, used)
        elif now - self._last[0] >= self.every:
            self._share = (used - self._last[1]) / (now - self._last[0])
            self._last = (now, used)
        return self._share
