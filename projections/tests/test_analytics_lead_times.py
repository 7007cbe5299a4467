"""The analytics model's lead times on both stores: whatever the orders' times (stages missing,
split parcels, ties, spans across midnight or below a millisecond), the database's answer is the
nearest-rank percentile computed in plain Python from the events themselves."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lifecycle import lifecycle

from orderflow.projections.analytics import AnalyticsModel
from orderflow.projections.database import ReadDatabase
from orderflow.runtime.settings import Settings
from orderflow.schemas.envelope import Message

pytestmark = pytest.mark.integration
BASE = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)  # spans cross midnight and a year's end
# microseconds after BASE that many orders share, so spans tie: among them .999999, which a
# millisecond clock rounds up into the next second, and spans of n.0005 s, which come out
# otherwise if the span is rounded to the millisecond before the answer is
SHARED = [0, 1, 999_999, 1_000_000, 1_000_500, 2_000_500]
# an order's times: placed (or not yet), then when its parcels were shipped, invoiced, delivered
Order = tuple[datetime | None, list[datetime], list[datetime], list[datetime]]

instants = st.one_of(
    st.sampled_from(SHARED), st.integers(min_value=-(10**8), max_value=10**11)
).map(lambda micros: BASE + timedelta(microseconds=micros))
parcels = st.lists(instants, max_size=2)  # none yet, one, or a split order's two
orders = st.lists(st.tuples(st.none() | instants, parcels, parcels, parcels), max_size=40)


@pytest.fixture
def model(store_settings: Settings, unique: Callable[[str], str]) -> Iterator[AnalyticsModel]:
    database = ReadDatabase(store_settings, unique("lead")[:40])
    yield AnalyticsModel(database)
    database.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # emptied per example
)
@given(times=orders, arrival=st.randoms(use_true_random=False))
@example(  # 11 spans: the p95 is the 11th (10.45 rounded up), a rounding slip gives the 10th
    times=[(BASE, [BASE + timedelta(seconds=s)], [], []) for s in range(1, 12)],
    arrival=random.Random(0),
)
def test_lead_times_are_the_nearest_rank_percentiles_of_the_orders_spans(
    model: AnalyticsModel, times: list[Order], arrival: random.Random
) -> None:
    # Given the orders' events, arriving in any order and batch
    with model.db.transaction(model.tables) as cursor:
        cursor.execute("DELETE FROM {s}analytics_stages")
        cursor.execute("DELETE FROM {s}analytics_spans")
    events = [event for order in times for event in timed_events(order)]
    arrival.shuffle(events)
    for start in range(0, len(events), 5):
        model.apply(events[start : start + 5])

    # when the lead times are asked for,
    answer = model.lead_times()

    # then each is what plain Python makes of the same times.
    assert answer == expected_lead_times(times)


def timed_events(order: Order) -> list[Message]:
    """One order's placement and each of its parcels' shipping, invoice and delivery, at the
    times given (an event for each time there is)."""
    placed, *parcel_times = order
    events = lifecycle(uuid4())
    chosen = [(events[0], placed)] if placed is not None else []
    for kind, times in zip(("Shipped", "Invoiced", "Delivered"), parcel_times, strict=True):
        of_kind = [event for event in events if event.type == kind]
        chosen += list(zip(of_kind, times, strict=False))
    return [event.model_copy(update={"occurred_at": at}) for event, at in chosen]


def expected_lead_times(times: list[Order]) -> dict[str, dict[str, float | int | None]]:
    spans: dict[str, list[float]] = {
        "placed_to_shipped": [],
        "placed_to_invoiced": [],
        "placed_to_delivered": [],
    }
    for start, shipped, invoiced, delivered in times:
        if start is None:
            continue
        for name, reached, chosen in (
            ("placed_to_shipped", shipped, min),
            ("placed_to_invoiced", invoiced, min),
            ("placed_to_delivered", delivered, max),
        ):
            if reached:
                spans[name].append((chosen(reached) - start).total_seconds())
    return {
        name: {"count": len(found), **{f"p{p}_s": nearest_rank(found, p) for p in (50, 95, 99)}}
        for name, found in spans.items()
    }


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1], 3)


def test_a_model_written_before_spans_were_kept_gets_them_from_the_worker(
    model: AnalyticsModel,
) -> None:
    # Given a model holding orders' stages but no spans, as an older version wrote it
    times: list[Order] = [
        (BASE, [BASE + timedelta(seconds=s)], [BASE + timedelta(seconds=2 * s)], [])
        for s in range(1, 30)
    ]
    model.apply([event for order in times for event in timed_events(order)])
    with model.db.transaction(model.tables) as cursor:
        cursor.execute("DROP TABLE {s}analytics_spans")

    # when a worker opens it again, before following the topics,
    reopened = AnalyticsModel(model.db)
    reopened.derive_missing()

    # then its lead times are those of every order it holds
    assert reopened.lead_times() == expected_lead_times(times)
    assert reopened.lead_times()["placed_to_invoiced"]["count"] == 29
