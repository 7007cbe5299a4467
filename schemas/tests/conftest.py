"""Shared test data: the committed fixture payloads, one per released message version.

A test that takes `released` runs once per fixture file; `payloads` maps every file's name
(`OrderPlaced.v1`) to its parsed JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCHEMAS = Path(__file__).resolve().parents[1]
FIXTURES = SCHEMAS / "fixtures"


def _load() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "released" in metafunc.fixturenames:
        metafunc.parametrize("released", sorted(_load()))


@pytest.fixture(scope="session")
def payloads() -> dict[str, dict[str, Any]]:
    return _load()


@pytest.fixture(scope="session")
def schemas_folder() -> Path:
    return SCHEMAS
