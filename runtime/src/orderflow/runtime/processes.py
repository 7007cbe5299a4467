"""Find processes by their command line (Linux /proc), to prove none is left behind."""

from __future__ import annotations

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
