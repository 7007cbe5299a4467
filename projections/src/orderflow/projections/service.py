"""The projection workers, wired as one process: a task per read model (each in a consumer
group of its own) and one that keeps the tracking feed to its size, with the host's health,
readiness and metrics on the projections port."""

from __future__ import annotations

from collections.abc import Callable

from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation
from orderflow.projections.worker import DATABASE, PROJECTIONS, follow, group_of, prune_feed
from orderflow.runtime.consumer import has_joined
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


def workers_joined_check(
    settings: Settings, database_name: str = DATABASE
) -> dict[str, Callable[[], None]]:
    """Readiness: each projection's worker is in the consumer group of its live generation. A
    worker outside it applies nothing; after a rebuild's swap it joins the new generation's
    group, which the broker may take a while to let it do."""

    def check() -> None:
        database = ReadDatabase(settings, database_name)
        try:  # read only: the workers create the generations' table as they start
            live = {name: live_generation(database, name) for name in PROJECTIONS}
        except Exception as error:
            raise RuntimeError(f"the read models' generations are not readable: {error}") from None
        finally:
            database.close()
        waiting = [
            f"{name} (generation {generation})"
            for name, generation in live.items()
            if not has_joined(group_of(name, generation, database_name))
        ]
        if waiting:
            raise RuntimeError(f"not yet in their consumer groups: {', '.join(waiting)}")

    return {"workers": check}


def projections_checks(settings: Settings) -> dict[str, Callable[[], None]]:
    return read_database_check(settings) | workers_joined_check(settings)


SERVICE = ServiceSpec(
    name="projections",
    tasks=[*(follow(model) for model in PROJECTIONS.values()), prune_feed()],
    port_setting="projections_port",
    checks=projections_checks,
)
