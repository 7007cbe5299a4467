"""Helpers the replay tests share: orders published to a topic, and the live read models."""

from __future__ import annotations

from uuid import UUID, uuid4

from lifecycle import lifecycle

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.database import ReadDatabase
from orderflow.projections.generations import live_generation
from orderflow.projections.tracking import TrackingModel
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.settings import Settings
from orderflow.runtime.testkit import publish


def publish_orders(settings: Settings, topic: str, count: int) -> list[UUID]:
    orders = [uuid4() for _ in range(count)]
    publish(
        new_producer(settings.kafka_bootstrap), topic, [e for o in orders for e in lifecycle(o)]
    )
    return orders


def tracking(database: ReadDatabase) -> TrackingModel:
    return TrackingModel(database, live_generation(database, "tracking"))


def analytics(database: ReadDatabase) -> AnalyticsModel:
    return AnalyticsModel(database, live_generation(database, "analytics"))


def completed(database: ReadDatabase, order: UUID) -> bool:
    found = tracking(database).tracking(str(order))
    return found is not None and found["status"] == "completed"
