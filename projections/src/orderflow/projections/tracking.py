"""The order-tracking read model: per order its status, a timeline of every step with its time,
its shipments (carrier, tracking link) and its invoices, and a feed of updates (for the live
pages): one per batch that touched an order, with its status then.

Events reach the model through four topics in any order, so the model keeps facts (steps,
shipments, invoices) and derives the status from all of them: the state after a set of events
does not depend on their order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.projections.database import Cursor
from orderflow.projections.model import ReadModel
from orderflow.schemas.billing import Invoiced
from orderflow.schemas.envelope import IntegrationEvent, Message, order_id_of
from orderflow.schemas.fulfillment import (
    Delivered,
    FulfillmentStopped,
    ShipmentCreated,
    ShipmentRefused,
    Shipped,
)
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
    # the shipments a cancellation stopped before they left (FulfillmentStopped): a table of its
    # own, so a model from before it gains it where it stands (its earlier stops need a replay)
    "CREATE TABLE IF NOT EXISTS {s}tracking_stopped (shipment_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL)",
    # the parcels the carrier refused (ShipmentRefused), with its reason: likewise its own table
    "CREATE TABLE IF NOT EXISTS {s}tracking_refused (shipment_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, reason TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_invoices (number TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, shipment_id TEXT NOT NULL, gross TEXT NOT NULL,"
    " currency TEXT NOT NULL, issued_on TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {g}tracking_invoices_order ON {s}tracking_invoices (order_id)",
    # units ordered (OrderPlaced) and shipped (Shipped), one row per event: an order whose
    # parcels are all delivered may still wait for backordered units
    "CREATE TABLE IF NOT EXISTS {s}tracking_units (event_id TEXT PRIMARY KEY,"
    " order_id TEXT NOT NULL, ordered INTEGER NOT NULL, shipped INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {g}tracking_units_order ON {s}tracking_units (order_id)",
    "CREATE TABLE IF NOT EXISTS {s}tracking_changes (seq {serial}, order_id TEXT NOT NULL,"
    " status TEXT NOT NULL, at TEXT NOT NULL)",
    # a customer's page follows one order: without it, each poll (twice a second) would scan
    # every change since that order's last one
    "CREATE INDEX IF NOT EXISTS {g}tracking_changes_order ON {s}tracking_changes (order_id, seq)",
]


#: Updates `changes` answers at most at once: a full page means more are waiting.
CHANGES_PAGE = 200


class TrackingModel(ReadModel):
    name = "tracking"
    statements = TABLES
    table_names = (
        "tracking_orders",
        "tracking_steps",
        "tracking_shipments",
        "tracking_stopped",
        "tracking_refused",
        "tracking_invoices",
        "tracking_units",
        "tracking_changes",
    )

    def write(self, cursor: Cursor, events: list[IntegrationEvent]) -> None:
        batch, touched = _Batch(), set()
        for event in events:
            order_id = str(order_id_of(event) or "")
            if order_id:
                batch.add(event, order_id)
                touched.add(order_id)
        batch.write(cursor)
        _derive_statuses(cursor, sorted(touched))

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
        self,
        after: int,
        channel: str | None = None,
        order_id: str | None = None,
        limit: int = CHANGES_PAGE,
    ) -> list[dict[str, Any]]:
        """Updates after sequence number `after`, oldest first, for one channel's orders or
        for one order."""
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

    def touched(self, after: int, limit: int = 5000) -> list[tuple[int, str, str | None]]:
        """(sequence number, order, its channel) of each update after `after`, oldest first:
        what one reader per process needs to tell which live pages have news."""
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                "SELECT c.seq, c.order_id, o.channel FROM {s}tracking_changes c"
                " JOIN {s}tracking_orders o ON o.order_id = c.order_id WHERE c.seq > ?"
                " ORDER BY c.seq LIMIT ?",
                [after, limit],
            )
            return [(int(seq), order, channel) for seq, order, channel in cursor.fetchall()]

    def status_counts(self) -> dict[str, int]:
        """How many orders are in each status now."""
        with self.db.reading(self.tables) as cursor:
            cursor.execute("SELECT status, COUNT(*) FROM {s}tracking_orders GROUP BY status")
            return {status: int(n) for status, n in cursor.fetchall()}

    def last_change(self) -> int:
        with self.db.reading(self.tables) as cursor:
            cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM {s}tracking_changes")
            return int(cursor.fetchone()[0])

    def prune_changes(self, kept: int) -> int:
        """Drop all but the newest `kept` updates of the feed (one per batch per order): live pages
        only ever ask for recent ones. Returns how many went."""
        with self.db.transaction(self.tables) as cursor:
            deleted = cursor.execute(
                "DELETE FROM {s}tracking_changes WHERE seq <= "
                "(SELECT COALESCE(MAX(seq), 0) FROM {s}tracking_changes) - ?",
                [kept],
            )
            return max(0, int(deleted.rowcount))


def _details(
    cursor: Cursor, order_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    cursor.execute(
        "SELECT type, at FROM {s}tracking_steps WHERE order_id = ? ORDER BY at, type", [order_id]
    )
    timeline = [{"type": t, "at": at} for t, at in cursor.fetchall()]
    cursor.execute(
        "SELECT s.shipment_id, warehouse, carrier, tracking_number, tracking_url, shipped,"
        " delivered, x.shipment_id IS NOT NULL, r.reason FROM {s}tracking_shipments s"
        " LEFT JOIN {s}tracking_stopped x ON x.shipment_id = s.shipment_id"
        " LEFT JOIN {s}tracking_refused r ON r.shipment_id = s.shipment_id"
        " WHERE s.order_id = ? ORDER BY warehouse, s.shipment_id",
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
    shipment_id, warehouse, carrier, number, url, shipped, delivered, stopped, refused = row
    # a stopped or refused shipment had not left, by the contract: it is never shipped as well;
    # a refused one may be stopped after, when its order is cancelled
    state = "delivered" if delivered else "shipped" if shipped else "created"
    if stopped and not shipped:
        state = "cancelled"
    elif refused is not None and not shipped:
        state = "exception"
    return {
        "shipment_id": shipment_id,
        "warehouse": warehouse,
        "state": state,
        "problem": refused,
        "carrier": carrier,
        "tracking_number": number,
        "tracking_url": url,
    }


_TEXT = ("text",)
_STEPS = "INSERT INTO {s}tracking_steps (event_id, order_id, type, at)"
_ORDERS = (
    "INSERT INTO {s}tracking_orders AS t (order_id, channel, external_id, postal_code, total,"
    " currency, status, updated_at)"
)
_ORDERS_PLACED = (
    "ON CONFLICT (order_id) DO UPDATE SET channel = excluded.channel,"
    " external_id = excluded.external_id, postal_code = excluded.postal_code,"
    " total = excluded.total, currency = excluded.currency"
)
_SHIPMENTS = (
    "INSERT INTO {s}tracking_shipments AS t (shipment_id, order_id, warehouse, carrier,"
    " tracking_number, tracking_url, created, shipped, delivered)"
)
_SHIPMENT_FACTS = (
    "ON CONFLICT (shipment_id) DO UPDATE SET"
    " warehouse = COALESCE(excluded.warehouse, t.warehouse),"
    " carrier = COALESCE(excluded.carrier, t.carrier),"
    " tracking_number = COALESCE(excluded.tracking_number, t.tracking_number),"
    " tracking_url = COALESCE(excluded.tracking_url, t.tracking_url),"
    " created = CASE WHEN excluded.created > t.created THEN 1 ELSE t.created END,"
    " shipped = CASE WHEN excluded.shipped > t.shipped THEN 1 ELSE t.shipped END,"
    " delivered = CASE WHEN excluded.delivered > t.delivered THEN 1 ELSE t.delivered END"
)
_INVOICES = (
    "INSERT INTO {s}tracking_invoices (number, order_id, shipment_id, gross, currency, issued_on)"
)
_UNITS = "INSERT INTO {s}tracking_units (event_id, order_id, ordered, shipped)"
_STATUSES = (
    "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status,"
    " updated_at = excluded.updated_at"
)


@dataclass
class _Batch:
    """A batch's facts, one row per key: few statements per batch, not several per event."""

    steps: list[tuple[Any, ...]] = field(default_factory=list)
    orders: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    shipments: dict[str, list[Any]] = field(default_factory=dict)
    invoices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    units: list[tuple[Any, ...]] = field(default_factory=list)
    stopped: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    refused: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def add(self, event: IntegrationEvent, order_id: str) -> None:
        self.steps.append((str(event.event_id), order_id, event.type, moment(event)))
        if isinstance(event, OrderPlaced | Shipped):
            self._units(event, order_id)
        if isinstance(event, OrderPlaced):
            total, postal = event.total, event.shipping_address.postal_code
            self.orders[order_id] = (
                order_id,
                event.channel,
                event.external_id,
                postal,
                str(total.amount),
                total.currency,
                "unknown",
                moment(event),
            )
        elif isinstance(event, ShipmentCreated | Shipped | Delivered):
            self._shipment(event, order_id)
        elif isinstance(event, FulfillmentStopped):
            self.stopped.update({str(s): (str(s), order_id) for s in event.stopped})
        elif isinstance(event, ShipmentRefused):
            shipment = str(event.shipment_id)
            self.refused[shipment] = (shipment, order_id, event.reason)
            self._shipment(event, order_id)
        elif isinstance(event, Invoiced):
            gross = event.gross
            self.invoices[event.invoice_number] = (
                event.invoice_number,
                order_id,
                str(event.shipment_id),
                str(gross.amount),
                gross.currency,
                event.issued_on.isoformat(),
            )

    def _units(self, event: OrderPlaced | Shipped, order_id: str) -> None:
        units = sum(line.quantity for line in event.lines)
        ordered, shipped = (units, 0) if isinstance(event, OrderPlaced) else (0, units)
        self.units.append((str(event.event_id), order_id, ordered, shipped))

    def _shipment(
        self, event: ShipmentCreated | Shipped | Delivered | ShipmentRefused, order_id: str
    ) -> None:
        row = self.shipments.setdefault(
            str(event.shipment_id), [str(event.shipment_id), order_id, *[None] * 4, 0, 0, 0]
        )
        if isinstance(event, ShipmentCreated):
            row[2], row[6] = event.warehouse, 1
        elif isinstance(event, ShipmentRefused):
            row[2] = event.warehouse
        elif isinstance(event, Shipped):
            row[2:6] = [event.warehouse, event.carrier, event.tracking_number, event.tracking_url]
            row[7] = 1
        else:
            row[8] = 1

    def write(self, cursor: Cursor) -> None:
        cursor.insert(_STEPS, _TEXT * 4, self.steps, "ON CONFLICT (event_id) DO NOTHING")
        cursor.insert(_ORDERS, _TEXT * 8, list(self.orders.values()), _ORDERS_PLACED)
        shipments = [tuple(r) for r in self.shipments.values()]
        cursor.insert(_SHIPMENTS, _TEXT * 6 + ("integer",) * 3, shipments, _SHIPMENT_FACTS)
        stopped, conflict = list(self.stopped.values()), "ON CONFLICT (shipment_id) DO NOTHING"
        cursor.insert(
            "INSERT INTO {s}tracking_stopped (shipment_id, order_id)", _TEXT * 2, stopped, conflict
        )
        refused, conflict = list(self.refused.values()), "ON CONFLICT (shipment_id) DO NOTHING"
        cursor.insert(
            "INSERT INTO {s}tracking_refused (shipment_id, order_id, reason)",
            _TEXT * 3,
            refused,
            conflict,
        )
        invoices, conflict = list(self.invoices.values()), "ON CONFLICT (number) DO NOTHING"
        cursor.insert(_INVOICES, _TEXT * 6, invoices, conflict)
        units, conflict = self.units, "ON CONFLICT (event_id) DO NOTHING"
        cursor.insert(_UNITS, _TEXT * 2 + ("integer",) * 2, units, conflict)


def _derive_statuses(cursor: Cursor, order_ids: list[str]) -> None:
    """Derive the touched orders' statuses from all their facts, and add an update to the
    feed for each: a live page shows a new step even when the status stays (the first of two
    shipments delivered)."""
    for start in range(0, len(order_ids), _ORDERS_PER_QUERY):
        chunk = order_ids[start : start + _ORDERS_PER_QUERY]
        facts = _OrderFacts.read(cursor, chunk)
        changes, statuses = [], []
        for order_id in chunk:
            status, latest = facts.status(order_id)
            changes.append((order_id, status, latest))  # a new step, if not a new status
            statuses.append((order_id, None, None, None, None, None, status, latest))
        cursor.insert("INSERT INTO {s}tracking_changes (order_id, status, at)", _TEXT * 3, changes)
        cursor.insert(_ORDERS, _TEXT * 8, statuses, _STATUSES)


_ORDERS_PER_QUERY = 500


@dataclass
class _OrderFacts:
    types: dict[str, dict[str, str]]  # order -> step type -> latest time
    shipments: dict[str, tuple[int, int, int]]  # order -> created, shipped, delivered
    invoiced: dict[str, int]
    units: dict[str, tuple[int, int]]  # order -> units ordered, units shipped

    @classmethod
    def read(cls, cursor: Cursor, chunk: list[str]) -> _OrderFacts:
        marks = ", ".join("?" for _ in chunk)

        def rows(query: str) -> list[Any]:
            cursor.execute(query.replace("(?)", f"({marks})"), chunk)
            return cursor.fetchall()

        types: dict[str, dict[str, str]] = {}
        for order_id, kind, at in rows(
            "SELECT order_id, type, MAX(at) FROM {s}tracking_steps WHERE order_id IN (?)"
            " GROUP BY order_id, type"
        ):
            types.setdefault(order_id, {})[kind] = at
        shipments = {
            o: (int(c), int(s), int(d))
            for o, c, s, d in rows(
                "SELECT order_id, SUM(created), SUM(shipped), SUM(delivered)"
                " FROM {s}tracking_shipments WHERE order_id IN (?) GROUP BY order_id"
            )
        }
        invoiced = {
            o: int(n)
            for o, n in rows(
                "SELECT order_id, COUNT(*) FROM {s}tracking_invoices WHERE order_id IN (?)"
                " GROUP BY order_id"
            )
        }
        units = {
            o: (int(ordered), int(shipped))
            for o, ordered, shipped in rows(
                "SELECT order_id, SUM(ordered), SUM(shipped) FROM {s}tracking_units"
                " WHERE order_id IN (?) GROUP BY order_id"
            )
        }
        return cls(types, shipments, invoiced, units)

    def status(self, order_id: str) -> tuple[str, str]:
        """The order's derived status and the time of its latest step."""
        steps = self.types.get(order_id, {})
        created, shipped, delivered = self.shipments.get(order_id, (0, 0, 0))
        ordered, units_shipped = self.units.get(order_id, (0, 0))
        waiting = units_shipped < ordered  # backordered units, or parcels not yet created
        invoiced = self.invoiced.get(order_id, 0)
        status = derive(set(steps), created, shipped, delivered, invoiced, waiting)
        return status, max(steps.values())


def derive(
    types: set[str],
    created: int,
    shipped: int,
    delivered: int,
    invoiced: int,
    units_waiting: bool = False,
) -> str:
    """The furthest stage the facts support; an ending wins. `units_waiting`: fewer units
    shipped than ordered, as far as the order's OrderPlaced and Shipped events tell."""
    for ending, status in (
        ("OrderRejected", "rejected"),
        ("OrderCancelled", "cancelled"),
        ("OrderCompleted", "completed"),
    ):
        if ending in types:
            return status
    if shipped:
        if units_waiting or shipped < max(created, shipped):
            return "partially_shipped"
        if "PaymentAuthorized" not in types and not created:
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
