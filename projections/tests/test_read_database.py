"""The read models' database opened by several workers at once, as the projections process
starts: a fresh SQLite file must not refuse any of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderflow.projections.database import ReadDatabase
from orderflow.runtime.settings import Settings
from orderflow.runtime.testing import failures_at_once

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("attempt", range(60))
def test_workers_opening_a_new_file_together_all_get_it(tmp_path: Path, attempt: int) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)

    failures = failures_at_once(lambda: ReadDatabase(settings, "fresh").close())

    assert failures == []
