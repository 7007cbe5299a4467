"""Inventory on topics of a test's own, configured by environment, so a test can run two
inventory processes with `orderflow service inventory_race:SERVICE`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from orderflow.inventory.service import SERVICE as INVENTORY
from orderflow.runtime.spec import ServiceSpec


def _from_env(env: Mapping[str, str]) -> ServiceSpec | None:
    if "RACE_NAME" not in env:
        return None
    outbound = env["RACE_OUT"]
    return dataclasses.replace(
        INVENTORY,
        name=env["RACE_NAME"],
        consumes=[env["RACE_IN"]],
        topic_for=lambda _: outbound,
        group=env["RACE_GROUP"],
    )


SERVICE = _from_env(os.environ)
