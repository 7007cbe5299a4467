"""Probes for tests that run `orderflow up`: its services' port settings and their readiness."""

from __future__ import annotations

import urllib.request

SERVICE_PORTS = ("intake_port", "inventory_port", "billing_port", "fulfillment_port")


def ready(port: int) -> bool:
    """The service on this port answers /readyz with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
