"""Probes for tests that run `orderflow up`: its services' port settings and their readiness."""

from __future__ import annotations

from orderflow.runtime.health import is_ready

SERVICE_PORTS = (
    "tracking_port",
    "intake_port",
    "inventory_port",
    "billing_port",
    "fulfillment_port",
    "projections_port",
)


def ready(port: int) -> bool:
    """The service on this local port answers /readyz with 200."""
    return is_ready(f"http://127.0.0.1:{port}", timeout=1)
