"""Processes as Linux /proc tells of them: found by their command line (to prove none is left
behind), and the CPU time they have used."""

from __future__ import annotations

import os
import time
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
    """How busy a process has been since the meter last looked: a share of one core."""

    pid: int
    _last: tuple[float, float] | None = field(default=None, init=False)  # (clock, CPU time)

    def share(self) -> float | None:
        """Share of a core since the previous call (None at the first, or when it is gone)."""
        used, now = cpu_seconds(self.pid), time.monotonic()
        if used is None:
            return None
        last, self._last = self._last, (now, used)
        if last is None or now <= last[0]:
            return None
        return (used - last[1]) / (now - last[0])
