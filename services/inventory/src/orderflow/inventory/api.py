"""Inventory's operations API: warehouses, stock per SKU, receipts, cycle-count adjustments,
per-SKU policy (threshold, backorders) and reservations. Thin: validate, call, map refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from orderflow.inventory.application import Inventory, UnknownWarehouse
from orderflow.inventory.domain import IllegalTransition, SkuStock
from orderflow.runtime.settings import Settings, Warehouse
from orderflow.schemas.common import Code, LongText, Quantity, Sku, Text
from orderflow.schemas.model import Model

SkuPath = Annotated[Sku, Path(description="The SKU.")]
T = TypeVar("T")


class Receipt(Model):
    warehouse: Annotated[str, Field(min_length=1, max_length=64)]
    # The contract's bound: the receipt is published as StockReceived, and a quantity the
    # contract refuses would stop the relay at that event for good.
    quantity: Quantity
    reference: Text | None = None  # a delivery note: the same one twice is received once


class Adjustment(Model):
    warehouse: Annotated[str, Field(min_length=1, max_length=64)]
    delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Code  # e.g. cycle_count, damaged, found
    note: LongText | None = None


class Policy(Model):
    low_stock_threshold: Annotated[int, Field(ge=0, le=100_000_000)]
    allow_backorder: bool


class WarehouseStock(BaseModel):
    warehouse: str
    on_hand: int
    reserved: int
    backordered: int
    available: int
    low: bool


class StockView(BaseModel):
    sku: str
    low_stock_threshold: int
    allow_backorder: bool
    available: int
    warehouses: list[WarehouseStock]


class StockPage(BaseModel):
    skus: list[StockView]


class ReservationView(BaseModel):
    order_id: UUID
    state: str
    expires_at: str | None = Field(
        description="when a held reservation lapses unless its payment is authorised; null"
        " once it no longer can (authorised, committed, released, failed)"
    )
    allocations: list[dict[str, str | int | bool]]
    short_lines: list[dict[str, str | int]]


class Problem(BaseModel):
    detail: str


def view(stock: SkuStock, warehouses: list[str]) -> StockView:
    rows = [
        WarehouseStock(
            warehouse=wh,
            on_hand=stock.on_hand.get(wh, 0),
            reserved=stock.reserved(wh),
            backordered=stock.backordered(wh),
            available=stock.available(wh),
            low=wh in stock.low,
        )
        for wh in sorted(set(warehouses) | stock.warehouses())
    ]
    return StockView(
        sku=stock.sku,
        low_stock_threshold=stock.threshold,
        allow_backorder=stock.allow_backorder,
        available=sum(row.available for row in rows),
        warehouses=rows,
    )


def routes(app: Inventory, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["inventory"])
    ids = [warehouse.id for warehouse in settings.warehouses]
    refused: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}}

    def change(sku: str, warehouse: str | None, act: Callable[[SkuStock], T]) -> StockView:
        try:
            if warehouse is not None:
                app.require_warehouse(warehouse)
            stock, _ = app.change_stock(sku, act)
        except UnknownWarehouse as unknown:
            raise HTTPException(422, str(unknown)) from None
        except IllegalTransition as refusal:
            raise HTTPException(409, str(refusal)) from None
        return view(stock, ids)

    @router.get("/warehouses", response_model=list[Warehouse])
    def warehouses() -> tuple[Warehouse, ...]:
        return settings.warehouses

    @router.get("/stock/{sku}", response_model=StockView, responses=refused)
    def stock(sku: SkuPath) -> StockView:
        found = app.stock(sku)
        if found is None:
            raise HTTPException(404, f"no stock of {sku} was ever recorded")
        return view(found, ids)

    @router.get("/stock", response_model=StockPage)
    def stocks(
        below_threshold: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> StockPage:
        """SKUs, newest first; `below_threshold=true`: those low in some warehouse."""
        found, _ = app.skus(below_threshold, None, limit)
        return StockPage(skus=[view(stock, ids) for stock in found])

    @router.post("/stock/{sku}/receipts", response_model=StockView, responses=refused)
    def receive(sku: SkuPath, receipt: Receipt) -> StockView:
        return change(
            sku,
            receipt.warehouse,
            lambda s: s.receive(receipt.warehouse, receipt.quantity, receipt.reference),
        )

    @router.post("/stock/{sku}/adjustments", response_model=StockView, responses=refused)
    def adjust(sku: SkuPath, adjustment: Adjustment) -> StockView:
        """A cycle count's correction, with its reason; cannot remove reserved units (409)."""
        return change(
            sku,
            adjustment.warehouse,
            lambda s: s.adjust(adjustment.warehouse, adjustment.delta, adjustment.reason),
        )

    @router.put("/stock/{sku}/policy", response_model=StockView, responses=refused)
    def set_policy(sku: SkuPath, policy: Policy) -> StockView:
        return change(
            sku, None, lambda s: s.set_policy(policy.low_stock_threshold, policy.allow_backorder)
        )

    @router.get("/reservations/{order_id}", response_model=ReservationView, responses=refused)
    def reservation(order_id: UUID) -> ReservationView:
        found = app.reservation(order_id)
        if found is None:
            raise HTTPException(404, f"no reservation for order {order_id}")
        return ReservationView(
            order_id=found.order_id,
            state=found.state,
            expires_at=found.expires_at.isoformat() if found.state == "held" else None,
            allocations=found.allocations,
            short_lines=found.short_lines,
        )

    return router
