"""The read models as the tracking API sees them: always the live generation of each, looked
up at most once a second, so a rebuild's swap shows within a second with no restart."""

from __future__ import annotations

import threading
import time
from typing import TypeVar

from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation, prepare
from orderflow.projections.model import ReadModel
from orderflow.projections.worker import DATABASE
from orderflow.runtime.settings import Settings

M = TypeVar("M", bound=ReadModel)
_RECHECK_S = 1.0


class ReadModels:
    def __init__(self, settings: Settings, database: str = DATABASE) -> None:
        self.database = ReadDatabase(settings, database)
        prepare(self.database)
        self._lock = threading.Lock()
        self._models: dict[str, tuple[float, ReadModel]] = {}

    def live(self, kind: type[M]) -> M:
        with self._lock:
            checked, model = self._models.get(kind.name, (0.0, None))
            if model is None or time.monotonic() - checked > _RECHECK_S:
                generation = live_generation(self.database, kind.name)
                if model is None or model.generation != generation:
                    model = kind(self.database, generation)
                self._models[kind.name] = (time.monotonic(), model)
            assert isinstance(model, kind)
            return model

    def close(self) -> None:
        self.database.close()
