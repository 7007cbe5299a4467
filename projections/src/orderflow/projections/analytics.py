"""The analytics read model: sales per SKU, channel and day (per currency), the funnel, lead
times, rejection and cancellation reasons, stock-outs and low stock.

The model stores facts, each written once and never updated but by min/max, and aggregates
when asked; only each order's lead times are kept derived from its stages, so that their
percentiles need not rank every order. Facts commute, so events arriving in any order across
the topics give the same answers; a sale whose order's channel is not known yet is counted
under the channel once `OrderPlaced` arrives, with no rewrite. Amounts are kept as integers in
units of 10^-4 (the finest minor unit of any ISO 4217 currency), so sums are exact on both
databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from orderflow.projections.database import Cursor
from orderflow.projections.model import KEYS_PER_STATEMENT, ReadModel
from orderflow.projections.tracking import moment
from orderflow.schemas.billing import CreditNoteIssued, Invoiced
from orderflow.schemas.envelope import IntegrationEvent, order_id_of
from orderflow.schemas.inventory import LowStockDetected, StockReservationFailed
from orderflow.schemas.money import minor_unit
from orderflow.schemas.orders import OrderCancelled, OrderPlaced, OrderRejected

TABLES = [
    "CREATE TABLE IF NOT EXISTS {s}analytics_orders (order_id TEXT PRIMARY KEY,"
    " channel TEXT NOT NULL, currency TEXT NOT NULL, total BIGINT NOT NULL,"
    " placed_minute TEXT NOT NULL)",
    # the throughput windows read their minutes only: 0.29 s -> 0.035 s at a million orders
    "CREATE INDEX IF NOT EXISTS {g}analytics_orders_minute ON {s}analytics_orders (placed_minute)",
    "CREATE TABLE IF NOT EXISTS {s}analytics_sales (event_id TEXT NOT NULL,"
    " line INTEGER NOT NULL, order_id TEXT NOT NULL, sku TEXT NOT NULL,"
    " quantity INTEGER NOT NULL, gross BIGINT NOT NULL, currency TEXT NOT NULL,"
    " day TEXT NOT NULL, PRIMARY KEY (event_id, line))",
    "CREATE TABLE IF NOT EXISTS {s}analytics_stages (order_id TEXT NOT NULL,"
    " stage TEXT NOT NULL, first_at TEXT NOT NULL, last_at TEXT NOT NULL,"
    " PRIMARY KEY (order_id, stage))",
    # each order's lead times (the end stage names the lead), kept as its stages change so
    # that a percentile is an index walk: ranking the spans of a million orders when asked
    # took 9 s on PostgreSQL, longer than the dashboards keep an answer
    "CREATE TABLE IF NOT EXISTS {s}analytics_spans (order_id TEXT NOT NULL,"
    " stage TEXT NOT NULL, micros BIGINT NOT NULL, PRIMARY KEY (order_id, stage))",
    "CREATE INDEX IF NOT EXISTS {g}analytics_spans_stage ON {s}analytics_spans (stage, micros)",
    "CREATE TABLE IF NOT EXISTS {s}analytics_reasons (event_id TEXT NOT NULL,"
    " line INTEGER NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY (event_id, line))",
    "CREATE TABLE IF NOT EXISTS {s}analytics_stock (event_id TEXT NOT NULL,"
    " line INTEGER NOT NULL, kind TEXT NOT NULL, sku TEXT NOT NULL, warehouse TEXT,"
    " available INTEGER, at TEXT NOT NULL, PRIMARY KEY (event_id, line))",
]

#: The funnel's stages in order, and the event that marks an order as having reached each.
STAGES = {
    "OrderPlaced": "placed",
    "StockReserved": "stock_reserved",
    "PaymentAuthorized": "payment_authorized",
    "Shipped": "shipped",
    "Invoiced": "invoiced",
    "Delivered": "delivered",
    "OrderCompleted": "completed",
    "OrderRejected": "rejected",
    "OrderCancelled": "cancelled",
}
#: Each lead time: from placed to the stage named, ending at its first or last arrival.
LEAD_TIMES = {
    "placed_to_shipped": ("shipped", "first_at"),
    "placed_to_invoiced": ("invoiced", "first_at"),
    "placed_to_delivered": ("delivered", "last_at"),
}
PERCENTILES = (50, 95, 99)
SCALE = 10_000
SalesKey = Literal["sku", "channel", "day"]


def scaled(amount: Decimal) -> int:
    return int(amount * SCALE)


def unscaled(value: int, currency: str) -> str:
    return str((Decimal(value) / SCALE).quantize(Decimal(1).scaleb(-minor_unit(currency))))


class AnalyticsModel(ReadModel):
    name = "analytics"
    statements = TABLES
    table_names = (
        "analytics_orders",
        "analytics_sales",
        "analytics_stages",
        "analytics_spans",
        "analytics_reasons",
        "analytics_stock",
    )

    def derive_missing(self) -> None:
        """Spans for every order, once: a model written before they were kept has stages and
        no spans (about 30 s for a million orders). A span written meanwhile is newer, so it is
        kept (DO NOTHING)."""
        with self.db.transaction(self.tables) as cursor:
            self._one_writer(cursor)
            cursor.execute("SELECT 1 FROM {s}analytics_spans LIMIT 1")
            if cursor.fetchone() is None:
                cursor.execute(_spans_statement(cursor.postgres))

    def write(self, cursor: Cursor, events: list[IntegrationEvent]) -> None:
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _INSERTS}
        for event in events:
            _facts(event, rows)
        rows["stages"] = _one_per_stage(rows["stages"])
        for name, (head, types, conflict) in _INSERTS.items():
            cursor.insert(head, types, rows[name], conflict)
        _refresh_spans(cursor, {order for order, stage, *_ in rows["stages"] if stage in _SPANS})

    # --- questions ---------------------------------------------------------------------

    def sales(self, by: SalesKey, limit: int = 100) -> list[dict[str, Any]]:
        """Units and revenue of the goods (gross, invoiced less credited; shipping fees are no
        SKU's) per `by` and currency: the newest days first, or the most units first.
        Revenues in different currencies do not compare, so they never rank the rows."""
        column = {"sku": "s.sku", "channel": "COALESCE(o.channel, 'unknown')", "day": "s.day"}[by]
        ranking = "k DESC" if by == "day" else "SUM(s.quantity) DESC, k"
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                f"SELECT {column} AS k, s.currency, SUM(s.quantity), SUM(s.gross)"  # noqa: S608 - fixed columns
                " FROM {s}analytics_sales s LEFT JOIN {s}analytics_orders o"
                " ON o.order_id = s.order_id GROUP BY k, s.currency"
                f" ORDER BY {ranking}, s.currency LIMIT ?",
                [limit],
            )
            rows = cursor.fetchall()
        return [
            {by: key, "currency": cur, "units": int(units), "revenue": unscaled(int(gross), cur)}
            for key, cur, units, gross in rows
        ]

    def funnel(self) -> dict[str, int]:
        with self.db.reading(self.tables) as cursor:
            cursor.execute("SELECT stage, COUNT(*) FROM {s}analytics_stages GROUP BY stage")
            counts = {stage: int(n) for stage, n in cursor.fetchall()}
        return {stage: counts.get(stage, 0) for stage in STAGES.values()}

    def lead_times(self) -> dict[str, dict[str, float | int | None]]:
        """Seconds from placed to first shipped, to first invoiced and to last delivered:
        p50, p95, p99 and how many orders. Each percentile is read off the spans' index (see
        `_nearest_rank`), not found by ranking every order."""
        answer: dict[str, dict[str, float | int | None]] = {}
        with self.db.reading(self.tables) as cursor:
            cursor.execute("SELECT stage, COUNT(*) FROM {s}analytics_spans GROUP BY stage")
            counts = {stage: int(total) for stage, total in cursor.fetchall()}
            for name, (stage, _) in LEAD_TIMES.items():
                total = counts.get(stage, 0)
                answer[name] = {"count": total}
                for p in PERCENTILES:
                    micros = _nearest_rank(cursor, stage, p, total)
                    # int / int divides exactly as timedelta.total_seconds() did before
                    answer[name][f"p{p}_s"] = None if micros is None else round(micros / 10**6, 3)
        return answer

    def reasons(self) -> list[dict[str, Any]]:
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                "SELECT kind, reason, COUNT(*) FROM {s}analytics_reasons GROUP BY kind, reason"
                " ORDER BY COUNT(*) DESC, kind, reason"
            )
            return [{"kind": k, "reason": r, "count": int(n)} for k, r, n in cursor.fetchall()]

    def stock(self, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
        """Stock-outs per SKU (orders refused for want of it) and the latest low-stock alerts."""
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                "SELECT sku, COUNT(*), MAX(at) FROM {s}analytics_stock WHERE kind = 'stock_out'"
                " GROUP BY sku ORDER BY COUNT(*) DESC, sku LIMIT ?",
                [limit],
            )
            outs = [{"sku": s, "count": int(n), "last_at": at} for s, n, at in cursor.fetchall()]
            cursor.execute(
                "SELECT sku, warehouse, available, at FROM {s}analytics_stock"
                " WHERE kind = 'low_stock' ORDER BY at DESC, sku LIMIT ?",
                [limit],
            )
            low = [
                {"sku": s, "warehouse": w, "available": a, "at": at}
                for s, w, a, at in cursor.fetchall()
            ]
        return {"stock_outs": outs, "low_stock": low}

    def throughput(self, minutes: int = 60, until: datetime | None = None) -> list[dict[str, Any]]:
        """Tumbling one-minute windows (by the time each order was placed): orders and the
        revenue they were placed for, per channel and currency, in the `minutes` minutes up to
        and including `until`'s (now by default). A minute without orders has no row: a
        window that ends now shows an outage as the minutes missing at its end, not as the
        last busy minutes."""
        last = (until or datetime.now(UTC)).astimezone(UTC)
        first = last - timedelta(minutes=minutes - 1)
        with self.db.reading(self.tables) as cursor:
            cursor.execute(
                "SELECT placed_minute, channel, currency, COUNT(*), SUM(total)"
                " FROM {s}analytics_orders WHERE placed_minute BETWEEN ? AND ?"
                " GROUP BY placed_minute, channel, currency"
                " ORDER BY placed_minute, channel, currency",
                [_minute(first), _minute(last)],
            )
            rows = cursor.fetchall()
        return [
            {
                "minute": m,
                "channel": ch,
                "currency": cur,
                "orders": int(n),
                "revenue": unscaled(int(total), cur),
            }
            for m, ch, cur, n, total in rows
        ]


def _minute(at: datetime) -> str:
    """A moment's minute as the model keeps it: `2026-11-26T10:00`."""
    return at.strftime("%Y-%m-%dT%H:%M")


#: The stages whose times make a span: an order's placement and each lead's end.
_SPANS = {"placed", *(stage for stage, _ in LEAD_TIMES.values())}


def _nearest_rank(cursor: Cursor, stage: str, p: int, total: int) -> int | None:
    """The p-th percentile of a lead's spans in microseconds, the nearest rank: the
    ceil(p/100 * total)-th smallest. Integer arithmetic gives that rank exactly. A rank past
    the middle is walked to from the largest: the p99 reads 1% of the index, not 99%."""
    if total == 0:
        return None
    rank = (p * total + 99) // 100
    ascending = 2 * rank <= total
    order, skip = ("ASC", rank - 1) if ascending else ("DESC", total - rank)
    cursor.execute(
        f"SELECT micros FROM {{s}}analytics_spans WHERE stage = ?"  # noqa: S608 - ASC or DESC
        f" ORDER BY micros {order} LIMIT 1 OFFSET ?",
        [stage, skip],
    )
    return int(cursor.fetchone()[0])


def _refresh_spans(cursor: Cursor, orders: set[str]) -> None:
    """The spans of orders whose placement or a lead's end the batch recorded, from their
    stages as they now stand: an earlier time arriving late, a later delivery."""
    chosen = sorted(orders)
    if cursor.postgres and chosen:  # one array: one statement to plan, whatever the count
        cursor.execute(_spans_statement(True, " AND p.order_id = ANY(?)"), [chosen])
        return
    for start in range(0, len(chosen), KEYS_PER_STATEMENT):
        chunk = chosen[start : start + KEYS_PER_STATEMENT]
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(_spans_statement(False, f" AND p.order_id IN ({marks})"), chunk)


def _spans_statement(postgres: bool, of_orders: str = "") -> str:
    """Writes the spans of the orders `of_orders` picks, replacing what was there; with no
    pick, of every order, keeping any span already written."""
    end = " ".join(f"WHEN '{stage}' THEN e.{column}" for stage, column in LEAD_TIMES.values())
    span = _micros_between("p.first_at", f"CASE e.stage {end} END", postgres)
    stages = ", ".join(f"'{stage}'" for stage, _ in LEAD_TIMES.values())
    then = "UPDATE SET micros = excluded.micros" if of_orders else "NOTHING"
    return (
        f"INSERT INTO {{s}}analytics_spans (order_id, stage, micros) SELECT p.order_id, e.stage,"  # noqa: S608 - our constants
        f" {span} FROM {{s}}analytics_stages p JOIN {{s}}analytics_stages e"
        f" ON e.order_id = p.order_id WHERE p.stage = 'placed' AND e.stage IN ({stages})"
        f"{of_orders} ON CONFLICT (order_id, stage) DO {then}"
    )


def _micros_between(start: str, stop: str, postgres: bool) -> str:
    """Whole microseconds between two `moment` texts (`2026-11-26T10:00:00.123456Z`). SQLite's
    date functions keep milliseconds only (and round .9995 up a second), so there the whole
    seconds are taken from the text before the dot and the microseconds added from after it."""
    if postgres:
        # exact: extract gives a numeric (PostgreSQL 14 on), and a span's double before that
        # still rounds to the right microsecond
        span = f"({stop})::timestamptz - ({start})::timestamptz"
        return f"(extract(epoch from {span}) * 1000000)::bigint"

    def micros(moment_text: str) -> str:
        return (
            f"(CAST(strftime('%s', substr({moment_text}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr({moment_text}, 21, 6) AS INTEGER))"
        )

    return f"({micros(stop)} - {micros(start)})"


_INSERTS = {  # (statement up to VALUES, column types, conflict clause)
    "orders": (
        "INSERT INTO {s}analytics_orders (order_id, channel, currency, total, placed_minute)",
        ("text", "text", "text", "bigint", "text"),
        "ON CONFLICT (order_id) DO NOTHING",
    ),
    "sales": (
        "INSERT INTO {s}analytics_sales (event_id, line, order_id, sku, quantity, gross,"
        " currency, day)",
        ("text", "integer", "text", "text", "integer", "bigint", "text", "text"),
        "ON CONFLICT (event_id, line) DO NOTHING",
    ),
    # first and last time an order reached a stage (a split order ships more than once)
    "stages": (
        "INSERT INTO {s}analytics_stages AS t (order_id, stage, first_at, last_at)",
        ("text",) * 4,
        "ON CONFLICT (order_id, stage) DO UPDATE SET"
        " first_at = CASE WHEN excluded.first_at < t.first_at THEN excluded.first_at"
        " ELSE t.first_at END,"
        " last_at = CASE WHEN excluded.last_at > t.last_at THEN excluded.last_at"
        " ELSE t.last_at END",
    ),
    "reasons": (
        "INSERT INTO {s}analytics_reasons (event_id, line, kind, reason, at)",
        ("text", "integer", "text", "text", "text"),
        "ON CONFLICT (event_id, line) DO NOTHING",
    ),
    "stock": (
        "INSERT INTO {s}analytics_stock (event_id, line, kind, sku, warehouse, available, at)",
        ("text", "integer", "text", "text", "text", "integer", "text"),
        "ON CONFLICT (event_id, line) DO NOTHING",
    ),
}


def _one_per_stage(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A batch's stage rows merged per (order, stage): one statement may touch a row once."""
    merged: dict[tuple[str, str], tuple[Any, ...]] = {}
    for order_id, stage, first, last in rows:
        seen = merged.get((order_id, stage))
        if seen is not None:
            first, last = min(first, seen[2]), max(last, seen[3])
        merged[(order_id, stage)] = (order_id, stage, first, last)
    return list(merged.values())


def _facts(event: IntegrationEvent, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    at, event_id = moment(event), str(event.event_id)
    stage = STAGES.get(event.type)
    if stage is not None:
        rows["stages"].append((str(order_id_of(event) or ""), stage, at, at))
    if isinstance(event, OrderPlaced):
        total = event.total
        rows["orders"].append(
            (str(event.order_id), event.channel, total.currency, scaled(total.amount), at[:16])
        )
    elif isinstance(event, Invoiced | CreditNoteIssued):
        sign = 1 if isinstance(event, Invoiced) else -1
        day = event.issued_on.isoformat()
        for number, line in enumerate(event.lines):
            if line.sku is not None:  # the shipping fee is no SKU's revenue
                rows["sales"].append(
                    (
                        event_id,
                        number,
                        str(event.order_id),
                        line.sku,
                        sign * line.quantity,
                        sign * scaled(line.gross.amount),
                        line.gross.currency,
                        day,
                    )
                )
    elif isinstance(event, OrderRejected):
        for number, reason in enumerate(event.reasons):
            rows["reasons"].append((event_id, number, "rejected", reason.code, at))
    elif isinstance(event, OrderCancelled):
        rows["reasons"].append((event_id, 0, "cancelled", event.reason, at))
    elif isinstance(event, StockReservationFailed):
        for number, short in enumerate(event.short_lines):
            rows["stock"].append(
                (event_id, number, "stock_out", short.sku, None, short.available, at)
            )
    elif isinstance(event, LowStockDetected):
        rows["stock"].append(
            (event_id, 0, "low_stock", event.sku, event.warehouse, event.available, at)
        )
