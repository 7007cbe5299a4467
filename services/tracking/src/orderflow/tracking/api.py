"""The tracking API over the read models: an order's tracking for its channel, a customer's
view of their order (order id and postal code), live status changes as server-sent events, the
analytics, and what the ops dashboard shows about the consumers and the dead letters."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.tracking import TrackingModel
from orderflow.runtime.channels import channel_of
from orderflow.runtime.settings import Settings
from orderflow.tracking.bell import FeedBell, Interest
from orderflow.tracking.operations import Operations
from orderflow.tracking.readers import ReadModels
from orderflow.tracking.stream import event_stream, last_event_id
from orderflow.tracking.views import PublicTrackingView, TrackingView, public

PostalCode = Annotated[str, Query(min_length=1, max_length=16, description="As on the order.")]
#: An order id as the services write it (a UUID's canonical text).
_ORDER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such order (for this channel, or with this postal code)."}
}
_UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown channel API key."}
}


def fresh_wanted(
    cache_control: Annotated[
        str | None, Header(description="`no-cache` for an answer computed now.")
    ] = None,
) -> bool:
    """Whether the asker wants an answer computed now, not the one kept a few seconds for the
    dashboards: a script checking the system right after a run."""
    directives = (cache_control or "").lower().split(",")
    return "no-cache" in (directive.strip() for directive in directives)


Fresh = Annotated[bool, Depends(fresh_wanted)]


def routes(models: ReadModels, operations: Operations, settings: Settings) -> APIRouter:
    router = APIRouter()
    authenticated = Depends(channel_of(settings.channel_keys))

    def tracking() -> TrackingModel:
        return models.live(TrackingModel)

    bell = FeedBell(tracking)  # the one reader of the feed for every live page

    def tracked(order_id: str) -> dict[str, Any] | None:
        """The order's tracking; None (a 404) for an id no order has, a malformed one too:
        PostgreSQL's text refuses a NUL, which made one a 500."""
        return tracking().tracking(order_id) if _ORDER_ID.fullmatch(order_id) else None

    def analytics() -> AnalyticsModel:
        return models.live(AnalyticsModel)

    @router.get(
        "/orders/{order_id}/tracking",
        tags=["tracking"],
        responses={**_UNAUTHORISED, **_NOT_FOUND},
    )
    def order_tracking(order_id: str, channel: str = authenticated) -> TrackingView:
        """Status, timeline, shipments and invoices of one of the channel's orders."""
        return TrackingView.model_validate(_owned(tracked(order_id), channel))

    @router.get("/tracking/stream", tags=["tracking"], responses={**_UNAUTHORISED})
    def channel_stream(request: Request, channel: str = authenticated) -> StreamingResponse:
        """Server-sent events: every update of the channel's orders (a new step, with the
        status) from now on, or after `Last-Event-ID`."""

        def changes(model: TrackingModel, after: int) -> list[dict[str, Any]]:
            return model.changes(after, channel=channel)

        resume = last_event_id(request)
        return event_stream(request, tracking, changes, resume, bell, Interest(channel=channel))

    @router.get("/track/{order_id}", tags=["customers"], responses={**_NOT_FOUND})
    def customer_tracking(order_id: str, postal_code: PostalCode) -> PublicTrackingView:
        """A customer's view of their order: give the order id and the shipping postal code."""
        return public(_customers(tracked(order_id), postal_code))

    @router.get("/track/{order_id}/stream", tags=["customers"], responses={**_NOT_FOUND})
    def customer_stream(
        request: Request, order_id: str, postal_code: PostalCode
    ) -> StreamingResponse:
        """Server-sent events: the order's updates (a new step, with the status), from its
        first."""
        _customers(tracked(order_id), postal_code)

        def changes(model: TrackingModel, after: int) -> list[dict[str, Any]]:
            return model.changes(after, order_id=order_id)

        resume, interest = last_event_id(request), Interest(order_id=order_id)
        return event_stream(request, tracking, changes, resume, bell, interest, replay=True)

    @router.get("/analytics/sales", tags=["analytics"])
    def sales(
        by: Literal["sku", "channel", "day"] = "sku",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Units and revenue (invoiced, less credit notes) per SKU, channel or day, per
        currency; biggest revenue first."""
        return analytics().sales(by, limit)

    @router.get("/analytics/funnel", tags=["analytics"])
    def funnel(fresh: Fresh) -> dict[str, int]:
        """Orders that reached each stage (counted at most every few seconds, but at once
        when asked with `Cache-Control: no-cache`)."""
        # the dashboard's two questions over every order ever placed: each open dashboard
        # asks every few seconds, so all of them share one answer a few seconds old, of the
        # live generation (a rebuild's swap shows at once, and is compared with the old one)
        model = analytics()
        return operations.kept_for("funnel", model.funnel, model.generation, fresh)

    @router.get("/analytics/lead-times", tags=["analytics"])
    def lead_times(fresh: Fresh) -> dict[str, dict[str, float | int | None]]:
        """Seconds from placed to first shipped, to first invoiced and to last delivered:
        p50, p95, p99 and count (computed at most every few seconds, but at once when asked
        with `Cache-Control: no-cache`)."""
        model = analytics()
        return operations.kept_for("lead_times", model.lead_times, model.generation, fresh)

    @router.get("/analytics/statuses", tags=["analytics"])
    def statuses() -> dict[str, int]:
        """How many orders are in each status now."""
        return tracking().status_counts()

    @router.get("/analytics/reasons", tags=["analytics"])
    def reasons() -> list[dict[str, Any]]:
        """Why orders were rejected or cancelled, most frequent first."""
        return analytics().reasons()

    @router.get("/analytics/stock", tags=["analytics"])
    def stock() -> dict[str, list[dict[str, Any]]]:
        """Stock-outs per SKU and the latest low-stock alerts."""
        return analytics().stock()

    @router.get("/analytics/throughput", tags=["analytics"])
    def throughput(
        minutes: Annotated[int, Query(ge=1, le=1440)] = 60,
        until: Annotated[AwareDatetime | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """Tumbling one-minute windows: orders placed and their revenue per channel and
        currency, in the `minutes` minutes up to `until`'s (now by default); a minute without
        orders has no row."""
        return analytics().throughput(minutes, until)

    @router.get("/ops/consumers", tags=["operations"])
    def consumers(fresh: Fresh) -> list[dict[str, Any]]:
        """Consumer lag per group: messages on its topics not yet committed."""
        return operations.lag(fresh)

    @router.get("/ops/dead-letters", tags=["operations"])
    def dead_letters(fresh: Fresh) -> dict[str, Any]:
        """How many dead letters, per reason and group, and the latest ones."""
        return operations.dead_letters(fresh)

    return router


def _owned(found: dict[str, Any] | None, channel: str) -> dict[str, Any]:
    if found is None or found["channel"] != channel:
        raise HTTPException(404, "no such order for this channel")
    return found


def _customers(found: dict[str, Any] | None, postal_code: str) -> dict[str, Any]:
    if found is None or _normal(found["postal_code"] or "") != _normal(postal_code):
        raise HTTPException(404, "no order with this number and postal code")
    return found


def _normal(postal_code: str) -> str:
    return "".join(postal_code.split()).upper()
