"""The order-tracking read model: per order its status, a timeline of every step with its time,
its shipments (carrier, tracking link) and its invoices, and a feed of status changes (for the
live pages).

Events reach the model through four topics in any order, so the model keeps facts (steps,
shipments, invoices) and derives the status from all of them: the state after a set of events
does not depend on their order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orderflow.projections.database import Cursor
from orderflow.projections.model import ReadModel
from orderflow.schemas.billing import Invoiced
from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.fulfillment import Delivered, ShipmentCreated, Shipped
from orderflow.schemas.orders import OrderPlaced

TABLES = [
    "CREATE TABLE IF NOT EXISTS {s}tracking_orders (order_id TEXT PRIMARY KEY, channel TEXT,"
    " external_id TEXT, postal_code TEXT, total TEXT, currency TEXT, status TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_steps (event_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {g}tracking_steps_order ON {s}tracking_steps (order_id, at)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_shipments (shipment_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, warehouse TEXT, carrier TEXT, tracking_number TEXT,"
    " tracking_url TEXT, created INTEGER NOT NULL DEFAULT 0, shipped INTEGER NOT NULL DEFAULT 0,"
    " delivered INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS {g}tracking_shipments_order ON {s}tracking_shipments (order_id)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_invoices (number TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, shipment_id TEXT NOT NULL, gross TEXT NOT NULL,"
    " currency TEXT NOT NULL, issued_on TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {g}tracking_invoices_order ON {s}tracking_invoices (order_id)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_changes (seq {serial}, order_id TEXT NOT NULL,"
    " status TEXT NOT NULL, at TEXT NOT NULL)",
]


class TrackingModel(ReadModel):
    name = "tracking"
    statements = TABLES
    table_names = (
        "tracking_orders",
        "tracking_steps",
        "tracking_shipments",
        "tracking_invoices",
        "tracking_changes",
    )

    def write(self, cursor: Cursor, events: list[IntegrationEvent]) -> None:
        touched = set()
        for event in events:
            order_id = str(getattr(event, "order_id", "") or "")
            if order_id:
                _record(cursor, event, order_id)
                touched.add(order_id)
        for order_id in sorted(touched):
            _derive_status(cursor, order_id)

    def tracking(self, order_id: str) -> dict[str, Any] | None:
        """Everything the model knows of one order, or None."""
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                "SELECT channel, external_id, status, total, currency, updated_at, postal_code"
                " FROM {s}tracking_orders WHERE order_id = ?",
                [order_id],
            )
            row = cursor.fetchone()
            if row is None:
                return None
            timeline, shipments, invoices = _details(cursor, order_id)
        channel, external_id, status, total, currency, updated_at, postal_code = row
        return {
            "order_id": order_id,
            "channel": channel,
            "external_id": external_id,
            "postal_code": postal_code,
            "status": status,
            "total": {"amount": total, "currency": currency} if total else None,
            "updated_at": updated_at,
            "timeline": timeline,
            "shipments": shipments,
            "invoices": invoices,
        }

    def changes(
        self, after: int, channel: str | None = None, order_id: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Status changes after sequence number `after`, oldest first, for one channel's
        orders or for one order."""
        query = (
            "SELECT c.seq, c.order_id, c.status, c.at FROM {s}tracking_changes c"
            " JOIN {s}tracking_orders o ON o.order_id = c.order_id WHERE c.seq > ?"
        )
        params: list[Any] = [after]
        if channel is not None:
            query, params = query + " AND o.channel = ?", [*params, channel]
        if order_id is not None:
            query, params = query + " AND c.order_id = ?", [*params, order_id]
        with self.db.reading(self.tables) as cursor:
            cursor.execute(query + " ORDER BY c.seq LIMIT ?", [*params, limit])
            rows = cursor.fetchall()
        return [{"seq": q, "order_id": o, "status": s, "at": at} for q, o, s, at in rows]

    def last_change(self) -> int:
        with self.db.reading(self.tables) as cursor:
            cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM {s}tracking_changes")
            return int(cursor.fetchone()[0])


def _details(
    cursor: Cursor, order_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    cursor.execute(
        "SELECT type, at FROM {s}tracking_steps WHERE order_id = ? ORDER BY at, type", [order_id]
    )
    timeline = [{"type": t, "at": at} for t, at in cursor.fetchall()]
    cursor.execute(
        "SELECT shipment_id, warehouse, carrier, tracking_number, tracking_url, shipped,"
        " delivered FROM {s}tracking_shipments WHERE order_id = ? ORDER BY shipment_id",
        [order_id],
    )
    shipments = [_shipment(r) for r in cursor.fetchall()]
    cursor.execute(
        "SELECT number, shipment_id, gross, currency, issued_on FROM {s}tracking_invoices"
        " WHERE order_id = ? ORDER BY number",
        [order_id],
    )
    invoices = [
        {"number": n, "shipment_id": s, "gross": {"amount": g, "currency": c}, "issued_on": on}
        for n, s, g, c, on in cursor.fetchall()
    ]
    return timeline, shipments, invoices


def moment(event: Message) -> str:
    """A fixed-width UTC time, so times sort as text (isoformat drops zero microseconds)."""
    return event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shipment(row: Sequence[Any]) -> dict[str, Any]:
    shipment_id, warehouse, carrier, number, url, shipped, delivered = row
    state = "delivered" if delivered else "shipped" if shipped else "created"
    return {
        "shipment_id": shipment_id,
        "warehouse": warehouse,
        "state": state,
        "carrier": carrier,
        "tracking_number": number,
        "tracking_url": url,
    }


def _record(cursor: Cursor, event: IntegrationEvent, order_id: str) -> None:
    cursor.execute(
        "INSERT INTO {s}tracking_steps (event_id, order_id, type, at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING",
        [str(event.event_id), order_id, event.type, moment(event)],
    )
    if isinstance(event, OrderPlaced):
        cursor.execute(
            "INSERT INTO {s}tracking_orders (order_id, channel, external_id, postal_code, total,"
            " currency, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'unknown', ?)"
            " ON CONFLICT (order_id) DO UPDATE SET channel = excluded.channel,"
            " external_id = excluded.external_id, postal_code = excluded.postal_code,"
            " total = excluded.total, currency = excluded.currency",
            [
                order_id,
                event.channel,
                event.external_id,
                event.shipping_address.postal_code,
                str(event.total.amount),
                event.total.currency,
                event.occurred_at.isoformat(),
            ],
        )
    elif isinstance(event, ShipmentCreated | Shipped | Delivered):
        _shipment_fact(cursor, event, order_id)
    elif isinstance(event, Invoiced):
        cursor.execute(
            "INSERT INTO {s}tracking_invoices (number, order_id, shipment_id, gross, currency,"
            " issued_on) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING",
            [
                event.invoice_number,
                order_id,
                str(event.shipment_id),
                str(event.gross.amount),
                event.gross.currency,
                event.issued_on.isoformat(),
            ],
        )


def _shipment_fact(
    cursor: Cursor, event: ShipmentCreated | Shipped | Delivered, order_id: str
) -> None:
    cursor.execute(
        "INSERT INTO {s}tracking_shipments (shipment_id, order_id) VALUES (?, ?)"
        " ON CONFLICT (shipment_id) DO NOTHING",
        [str(event.shipment_id), order_id],
    )
    if isinstance(event, ShipmentCreated):
        cursor.execute(
            "UPDATE {s}tracking_shipments SET created = 1, warehouse = ? WHERE shipment_id = ?",
            [event.warehouse, str(event.shipment_id)],
        )
    elif isinstance(event, Shipped):
        cursor.execute(
            "UPDATE {s}tracking_shipments SET shipped = 1, warehouse = ?, carrier = ?,"
            " tracking_number = ?, tracking_url = ? WHERE shipment_id = ?",
            [
                event.warehouse,
                event.carrier,
                event.tracking_number,
                event.tracking_url,
                str(event.shipment_id),
            ],
        )
    else:
        cursor.execute(
            "UPDATE {s}tracking_shipments SET delivered = 1 WHERE shipment_id = ?",
            [str(event.shipment_id)],
        )


def _derive_status(cursor: Cursor, order_id: str) -> None:
    cursor.execute(
        "SELECT type, at FROM {s}tracking_steps WHERE order_id = ? ORDER BY at", [order_id]
    )
    steps = cursor.fetchall()
    types = {t for t, _ in steps}
    cursor.execute(
        "SELECT COALESCE(SUM(created), 0), COALESCE(SUM(shipped), 0),"
        " COALESCE(SUM(delivered), 0) FROM {s}tracking_shipments WHERE order_id = ?",
        [order_id],
    )
    created, shipped, delivered = (int(n) for n in cursor.fetchone())
    cursor.execute("SELECT COUNT(*) FROM {s}tracking_invoices WHERE order_id = ?", [order_id])
    invoiced = int(cursor.fetchone()[0])
    status = derive(types, created, shipped, delivered, invoiced)
    latest = max(at for _, at in steps)
    cursor.execute("SELECT status FROM {s}tracking_orders WHERE order_id = ?", [order_id])
    before = cursor.fetchone()
    if before is None or before[0] != status:
        cursor.execute(
            "INSERT INTO {s}tracking_changes (order_id, status, at) VALUES (?, ?, ?)",
            [order_id, status, latest],
        )
    cursor.execute(
        "INSERT INTO {s}tracking_orders (order_id, status, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (order_id) DO UPDATE SET status = excluded.status,"
        " updated_at = excluded.updated_at",
        [order_id, status, latest],
    )


def derive(types: set[str], created: int, shipped: int, delivered: int, invoiced: int) -> str:
    """The furthest stage the facts support; an ending wins."""
    for ending, status in (
        ("OrderRejected", "rejected"),
        ("OrderCancelled", "cancelled"),
        ("OrderCompleted", "completed"),
    ):
        if ending in types:
            return status
    if shipped:
        if shipped < max(created, shipped) or ("PaymentAuthorized" not in types and not created):
            return "partially_shipped"
        if invoiced < shipped:
            return "shipped"
        return "delivered" if delivered >= shipped else "invoiced"
    for kind, status in (
        ("PaymentAuthorized", "payment_authorized"),
        ("StockReserved", "stock_reserved"),
        ("OrderPlaced", "placed"),
    ):
        if kind in types:
            return status
    return "unknown"
