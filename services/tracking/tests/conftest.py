"""Tracking's tests use the projections' test data: one order's every event."""

from __future__ import annotations

import sys
from pathlib import Path

_MEMBERS = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(_MEMBERS / "projections" / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
