"""The projections' test data (support/) is importable from their tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orderflow.runtime.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """PostgreSQL, the production store, for the rebuilds: their SQL is the models' own, which
    the models' tests run on both stores."""
    return Settings(data_dir=tmp_path, database_url=database_url, kafka_bootstrap=kafka_bootstrap)
