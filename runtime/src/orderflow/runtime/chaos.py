"""The chaos suite's monkey: SIGKILL to a random service or projection worker of the local
stack, then a restart, as a crash and a supervisor would do it; on PostgreSQL, now and then,
every connection the services hold dropped at once, as a database restart would. It also
notices a process that died without being killed (that is a bug: it is counted and
restarted)."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from orderflow.runtime.fleet import ServiceProcess


@dataclass(frozen=True)
class Kill:
    service: str
    pid: int
    at_s: float  # since the monkey started


@dataclass
class ChaosMonkey:
    services: list[ServiceProcess]
    seed: int = 7
    kills: list[Kill] = field(default_factory=list)
    unexpected_exits: Counter[str] = field(default_factory=Counter)
    dropped: list[int] = field(default_factory=list)  # connections ended, per drop

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - a repeatable run, not secrets
        self._started = time.monotonic()

    def strike(self) -> Kill:
        """Kill one service, chosen at random, and start it again at once."""
        self.revive()
        victim = self._random.choice(self.services)
        kill = Kill(victim.label, victim.process.pid, time.monotonic() - self._started)
        victim.kill()
        victim.restart()
        self.kills.append(kill)
        return kill

    def revive(self) -> None:
        """Restart any service that exited on its own, and count it."""
        for service in self.services:
            if service.process.poll() is not None:
                self.unexpected_exits[service.label] += 1
                service.restart()

    def per_service(self) -> Counter[str]:
        return Counter(kill.service for kill in self.kills)
