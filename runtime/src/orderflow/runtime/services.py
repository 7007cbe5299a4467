"""Which services are installed: each service package registers itself under the
`orderflow.services` entry-point group, so the runtime never imports a service by name."""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "orderflow.services"


def installed_services() -> list[str]:
    """Names of the installed services, in a stable order."""
    return sorted(entry.name for entry in entry_points(group=GROUP))
