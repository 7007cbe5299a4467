"""Fault-injection points for crash tests: `ORDERFLOW_FAULTS="relay.after_produce=0.01,..."`
makes the process kill itself (SIGKILL, no cleanup) at that point with that probability.

The points sit where a crash is most dangerous (between a database commit and the Kafka offset
commit; between publishing and saving the relay position), so tests hit them on purpose instead
of hoping a random kill lands there. Unset, a point costs one dict lookup."""

from __future__ import annotations

import os
import random
import signal

POINTS = (
    "consumer.after_db_commit",
    "consumer.before_db_commit",
    "relay.after_produce",
    "relay.after_save",
)


def _parse(spec: str) -> dict[str, float]:
    chances = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, chance = item.partition("=")
        if name not in POINTS:
            raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
        chances[name] = float(chance or 1)
    return chances


_CHANCES = _parse(os.environ.get("ORDERFLOW_FAULTS", ""))


def point(name: str) -> None:
    chance = _CHANCES.get(name)
    if chance and random.random() < chance:  # noqa: S311 - chaos, not security
        # Say where, so a test can prove the dangerous points were hit, then die at once.
        os.write(2, f"fault: killed at {name}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)
