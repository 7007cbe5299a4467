"""The projection workers, wired as one process: a task per read model (each in a consumer
group of its own) and one that keeps the tracking feed to its size, with the host's health,
readiness and metrics on the projections port."""

from __future__ import annotations

from collections.abc import Callable

from orderflow.projections.database import ReadDatabase
from orderflow.projections.worker import DATABASE, PROJECTIONS, follow, prune_feed
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import ServiceSpec


def read_database_check(settings: Settings) -> dict[str, Callable[[], None]]:
    """Readiness: the read models' database answers."""

    def check() -> None:
        database = ReadDatabase(settings, DATABASE)
        try:
            with database.reading() as cursor:
                cursor.execute("SELECT 1")
        finally:
            database.close()

    return {"read_models": check}


SERVICE = ServiceSpec(
    name="projections",
    tasks=[*(follow(model) for model in PROJECTIONS.values()), prune_feed()],
    port_setting="projections_port",
    checks=read_database_check,
)
