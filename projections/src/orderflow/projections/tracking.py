"""The order-tracking read model: per order its status, a timeline of every step with its time,
its shipments (carrier, tracking link) and its invoices.

Each event is applied once: its (source, position) goes into the model's own tracking table in
the batch's transaction, and a redelivered event finds it there. Events reach the model through
four topics in any order, so the model keeps facts (steps, shipments, invoices) and derives the
status from all of them: the state after a set of events does not depend on their order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orderflow.projections.database import Cursor, ReadDatabase
from orderflow.runtime.inbox import Applied
from orderflow.schemas.billing import Invoiced
from orderflow.schemas.envelope import IntegrationEvent, Message
from orderflow.schemas.fulfillment import Delivered, ShipmentCreated, Shipped
from orderflow.schemas.orders import OrderPlaced

TABLES = [
    "CREATE TABLE IF NOT EXISTS {s}tracking_inbox (source TEXT NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (source, position))",
    "CREATE TABLE IF NOT EXISTS {s}tracking_orders (order_id TEXT PRIMARY KEY, channel TEXT,"
    " external_id TEXT, total TEXT, currency TEXT, status TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_steps (event_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tracking_steps_order ON {s}tracking_steps (order_id, at)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_shipments (shipment_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, warehouse TEXT, carrier TEXT, tracking_number TEXT,"
    " tracking_url TEXT, created INTEGER NOT NULL DEFAULT 0, shipped INTEGER NOT NULL DEFAULT 0,"
    " delivered INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_invoices (number TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, shipment_id TEXT NOT NULL, gross TEXT NOT NULL,"
    " currency TEXT NOT NULL, issued_on TEXT NOT NULL)",
]


class TrackingModel:
    def __init__(self, database: ReadDatabase) -> None:
        self.db = database
        with self.db.transaction() as cursor:
            for statement in TABLES:
                cursor.execute(statement)

    def apply(self, events: Sequence[Message]) -> Applied:
        outcome, touched = Applied(), set()
        with self.db.transaction() as cursor:
            new = self._unseen(cursor, events, outcome)
            for event in new:
                order_id = str(getattr(event, "order_id", "") or "")
                if order_id:
                    _record(cursor, event, order_id)
                    touched.add(order_id)
            cursor.executemany(
                "INSERT INTO {s}tracking_inbox (source, position) VALUES (?, ?)",
                [(e.source, e.source_position) for e in new],
            )
            for order_id in sorted(touched):
                _derive_status(cursor, order_id)
        outcome.applied = len(new)
        return outcome

    def _unseen(
        self, cursor: Cursor, events: Sequence[Message], outcome: Applied
    ) -> list[IntegrationEvent]:
        """The batch's events not applied before: one lookup per chunk of the batch, not one per
        event; a second copy within the batch counts as seen too."""
        keyed = [(i, e) for i, e in enumerate(events) if isinstance(e, IntegrationEvent)]
        seen = _tracked(cursor, [(e.source, e.source_position) for _, e in keyed])
        new = []
        for index, event in keyed:
            key = (event.source, event.source_position)
            if key in seen:
                outcome.skipped.append(index)
                continue
            seen.add(key)
            new.append(event)
        return new

    def tracking(self, order_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "SELECT channel, external_id, status, total, currency, updated_at"
                " FROM {s}tracking_orders WHERE order_id = ?",
                [order_id],
            )
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(
                "SELECT type, at FROM {s}tracking_steps WHERE order_id = ? ORDER BY at, type",
                [order_id],
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
                {
                    "number": n,
                    "shipment_id": s,
                    "gross": {"amount": g, "currency": c},
                    "issued_on": on,
                }
                for n, s, g, c, on in cursor.fetchall()
            ]
        channel, external_id, status, total, currency, updated_at = row
        return {
            "order_id": order_id,
            "channel": channel,
            "external_id": external_id,
            "status": status,
            "total": {"amount": total, "currency": currency} if total else None,
            "updated_at": updated_at,
            "timeline": timeline,
            "shipments": shipments,
            "invoices": invoices,
        }


def moment(event: Message) -> str:
    """A fixed-width UTC time, so times sort as text (isoformat drops zero microseconds)."""
    return event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_CHUNK = 400  # keys per lookup, well below SQLite's limit on parameters


def _tracked(cursor: Cursor, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        cursor.execute(
            f"SELECT source, position FROM {{s}}tracking_inbox WHERE (source, position) IN"  # noqa: S608 - placeholders only
            f" (VALUES {values})",
            [part for key in chunk for part in key],
        )
        found |= {(str(source), int(position)) for source, position in cursor.fetchall()}
    return found


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
            "INSERT INTO {s}tracking_orders (order_id, channel, external_id, total, currency,"
            " status, updated_at) VALUES (?, ?, ?, ?, ?, 'placed', ?) ON CONFLICT (order_id) DO"
            " UPDATE SET channel = excluded.channel, external_id = excluded.external_id,"
            " total = excluded.total, currency = excluded.currency",
            [
                order_id,
                event.channel,
                event.external_id,
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
