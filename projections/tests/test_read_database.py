"""The read models' database opened by several workers at once, as the projections process
starts: a fresh SQLite file must not refuse any of them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orderflow.projections.database import ReadDatabase
from orderflow.runtime.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("attempt", range(60))
def test_workers_opening_a_new_file_together_all_get_it(tmp_path: Path, attempt: int) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    start, failures = threading.Barrier(8), list[BaseException]()

    def open_it() -> None:
        start.wait()
        try:
            ReadDatabase(settings, "fresh").close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
