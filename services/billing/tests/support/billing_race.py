"""Billing on a test's own store, topics and group, for `orderflow service
billing_race:SERVICE` (see `orderflow.runtime.testkit.on_own_topics`)."""

from __future__ import annotations

import os

from orderflow.billing.service import SERVICE as BILLING
from orderflow.runtime.testkit import on_own_topics

SERVICE = on_own_topics(BILLING, os.environ)
