"""Tracking, wired: the read-model API and the web pages, on the tracking port. It has no
event store and consumes nothing itself: the projection workers fill the read models."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from fastapi import APIRouter

from orderflow.projections.service import read_database_check
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import ServiceSpec
from orderflow.tracking.api import routes as api_routes
from orderflow.tracking.operations import Operations
from orderflow.tracking.pages import pages
from orderflow.tracking.readers import ReadModels


def routes(_: Application[UUID] | None, settings: Settings) -> APIRouter:
    models = ReadModels(settings)
    router = APIRouter()
    router.include_router(api_routes(models, Operations(settings, models), settings))
    router.include_router(pages())
    return router


SERVICE = ServiceSpec(
    name="tracking",
    routes=routes,
    port_setting="tracking_port",
    checks=read_database_check,
)
