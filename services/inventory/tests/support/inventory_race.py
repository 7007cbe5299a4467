"""Inventory on a test's own store, topics and group, for `orderflow service
inventory_race:SERVICE` (see `orderflow.runtime.testkit.on_own_topics`)."""

from __future__ import annotations

import os

from orderflow.inventory.service import SERVICE as INVENTORY
from orderflow.runtime.testkit import on_own_topics

SERVICE = on_own_topics(INVENTORY, os.environ)
