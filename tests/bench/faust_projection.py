"""The same tracking projection as `orderflow replay`, done by a faust-streaming agent: it reads
the topic, decodes each event with the contracts and applies batches of up to 2,000 to the
tracking model in the same database. Run in a process of its own (faust owns its event loop);
it prints events per second, counted from the first event received to the last one applied
(so faust's group join, ~5 s on this broker, is not counted against it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

BATCH, WITHIN_S = 2000, 0.5
_RESULT = re.compile(r'\{"events_per_s": [0-9.eE+-]+\}')


def faust_projection(bootstrap: str, topic: str, events: int, database_url: str) -> float:
    """Run the faust agent over `topic` (holding `events`); its events per second."""
    command = [sys.executable, __file__, bootstrap, topic, str(events), database_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    found = _RESULT.search(done.stdout + done.stderr)  # faust sends stdout to its log
    if found:
        return float(json.loads(found.group(0))["events_per_s"])
    raise RuntimeError(f"the faust agent failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def main(bootstrap: str, topic: str, events: int, database_url: str) -> None:
    import faust

    from orderflow.projections.database import ReadDatabase
    from orderflow.projections.tracking import TrackingModel
    from orderflow.runtime.settings import Settings
    from orderflow.schemas.codec import decode

    model = TrackingModel(ReadDatabase(Settings(database_url=database_url), "bench_faust"), 1)
    app = faust.App(
        f"bench-faust-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        broker_rebalance_timeout=6,
        broker_session_timeout=6,
        broker_heartbeat_interval=2,
    )
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    seen: dict[str, Any] = {"count": 0, "first": None}

    @app.agent(source)
    async def project(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=WITHIN_S):
            seen["first"] = seen["first"] or time.perf_counter()
            decoded = [decode(e.value, list((e.headers or {}).items())) for e in batch]
            await asyncio.to_thread(model.apply, decoded)
            seen["count"] += len(batch)
            if seen["count"] >= events:
                rate = seen["count"] / (time.perf_counter() - seen["first"])
                print(json.dumps({"events_per_s": rate}), flush=True)
                os._exit(0)  # the measurement is taken; nothing of the worker needs to survive

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
