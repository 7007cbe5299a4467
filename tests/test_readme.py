"""The README stays true: every setting is documented, nothing documented is made up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orderflow.runtime.settings import Settings, variable_name

pytestmark = pytest.mark.unit

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(ORDERFLOW_[A-Z_]+)` \|", README, flags=re.MULTILINE))

    assert documented == {variable_name(field) for field in Settings.model_fields}


def test_the_readme_names_no_unknown_variable() -> None:
    mentioned = set(re.findall(r"ORDERFLOW_[A-Z_]+", README))

    assert mentioned <= {variable_name(field) for field in Settings.model_fields}


def test_the_two_commands_come_first() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]

    assert [line.split()[1] for line in first_block.strip().splitlines()] == ["run", "test"]
