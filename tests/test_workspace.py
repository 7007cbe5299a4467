"""The workspace keeps its promises: each member imports only what it declares, and a member
installed alone cannot reach a service it did not declare."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from orderflow.runtime.testing import unavailable

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = sorted(
    path.parent
    for pattern in ("*/pyproject.toml", "services/*/pyproject.toml")
    for path in ROOT.glob(pattern)
)


def distribution_of(package: str) -> str:
    """`orderflow.inventory` is shipped by `orderflow-inventory`."""
    return f"orderflow-{package.split('.')[1]}"


def imported_orderflow_packages(source: Path) -> set[str]:
    found = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found |= {".".join(n.split(".")[:2]) for n in names if n.startswith("orderflow.")}
    return found


@pytest.mark.unit
@pytest.mark.parametrize("member", MEMBERS, ids=lambda path: path.name)
def test_a_member_imports_only_what_it_declares(member: Path) -> None:
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    declared = {dep.split(">")[0].split("=")[0].strip() for dep in project["dependencies"]}
    declared.add(project["name"])

    used = {distribution_of(p) for p in imported_orderflow_packages(member / "src")}

    assert used <= declared, f"{project['name']} imports undeclared {sorted(used - declared)}"


@pytest.mark.unit
def test_every_member_has_its_own_tests() -> None:
    assert len(MEMBERS) == 8
    assert all(list((member / "tests").glob("test_*.py")) for member in MEMBERS)


def _uv() -> list[str]:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:
        return uv.split()
    probe = subprocess.run(
        [sys.executable, "-m", "uv", "--version"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        unavailable("uv is not installed (make bootstraps it)")
    return [sys.executable, "-m", "uv"]


@pytest.mark.e2e
def test_one_member_installs_alone_and_cannot_import_another_service(tmp_path: Path) -> None:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}
    sync = [*_uv(), "sync", "--frozen", "--no-dev", "--package", "orderflow-inventory"]

    subprocess.run(sync, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    python = str(tmp_path / "venv" / "bin" / "python")
    own = subprocess.run(
        [python, "-c", "import orderflow.inventory, orderflow.runtime"],
        capture_output=True,
        check=False,
    )
    other = subprocess.run(
        [python, "-c", "import orderflow.billing"], capture_output=True, text=True, check=False
    )
    assert own.returncode == 0, own.stderr
    assert other.returncode != 0
    assert "No module named 'orderflow.billing'" in other.stderr
