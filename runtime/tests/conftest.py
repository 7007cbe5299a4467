"""The runtime's tests drive a small service of their own (support/ledger_service.py); its folder
is importable here and, through PYTHONPATH, in the service processes the tests start."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent / "support"
sys.path.insert(0, str(SUPPORT))
