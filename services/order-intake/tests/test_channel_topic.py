"""The channel topic and the other services' events, through a real broker, on both stores:
submissions place orders once, invalid ones are rejected with reasons, unreadable ones are
dead-lettered, and the lifecycle runs from placed to completed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from confluent_kafka import Producer
from intake_data import submission

from orderflow.intake.application import Intake
from orderflow.intake.domain import order_id_for
from orderflow.intake.service import SERVICE
from orderflow.runtime.deadletters import DeadLetter, read_all
from orderflow.runtime.kafka import new_producer
from orderflow.runtime.store import Store
from orderflow.runtime.testkit import Outbox, Topics, publish, running
from orderflow.schemas.billing import Invoiced, PaymentAuthorized
from orderflow.schemas.codec import encode
from orderflow.schemas.envelope import Message
from orderflow.schemas.fulfillment import Delivered, Shipped
from orderflow.schemas.inventory import Allocation, StockReserved
from orderflow.schemas.orders import OrderCompleted, OrderPlaced, OrderRejected, OrderSubmitted

pytestmark = pytest.mark.integration
ORDER = order_id_for("web", "topic-1")


@pytest.fixture
def intake(
    store: Store, kafka_bootstrap: str, unique: Callable[[str], str]
) -> Iterator[tuple[Intake, Topics, Producer]]:
    app = Intake(env=store.env)
    topics = Topics(unique("channel"), unique("orders"), unique("dlq"))
    with running(SERVICE, app, kafka_bootstrap, topics, unique("group")):
        yield app, topics, new_producer(kafka_bootstrap)
    app.close()


def types(messages: list[Message], of: type[Message]) -> list[Message]:
    return [m for m in messages if isinstance(m, of)]


def dead_letters(bootstrap: str, topic: str, count: int) -> list[DeadLetter]:
    deadline = time.monotonic() + 30
    while len(found := read_all(bootstrap, topic)) < count:
        assert time.monotonic() < deadline, f"dead letters so far: {found}"
    return found


def lifecycle(order_id: UUID) -> list[Message]:
    """What inventory, billing and fulfillment would say about a one-shipment order."""
    shipment, correlation = uuid4(), uuid4()
    common = {"correlation_id": correlation, "order_id": order_id}
    lines = [{"sku": "SKU-001", "quantity": 2}, {"sku": "SKU-002", "quantity": 1}]
    return [
        StockReserved(
            **common,
            source="inventory",
            source_position=1,
            reservation_id=uuid4(),
            allocations=[Allocation(warehouse="berlin", sku="SKU-001", quantity=2)],
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
        ),
        PaymentAuthorized.model_validate(
            {
                **common,
                "source": "billing",
                "source_position": 1,
                "payment_id": uuid4(),
                "amount": {"amount": "49.88", "currency": "EUR"},
            },
            strict=False,
        ),
        Shipped.model_validate(
            {
                **common,
                "source": "fulfillment",
                "source_position": 1,
                "shipment_id": shipment,
                "warehouse": "berlin",
                "lines": lines,
                "carrier": "Sandbox Post",
                "tracking_number": "SP123",
                "tracking_url": "https://track.example/SP123",
            },
            strict=False,
        ),
        Invoiced.model_validate(
            {**common, "source": "billing", "source_position": 2, **_invoice(shipment)},
            strict=False,
        ),
        Delivered(**common, source="fulfillment", source_position=2, shipment_id=shipment),
    ]


def _invoice(shipment: UUID) -> dict[str, object]:
    money = lambda amount: {"amount": amount, "currency": "EUR"}  # noqa: E731
    return {
        "invoice_id": uuid4(),
        "invoice_number": "INV-2026-000001",
        "shipment_id": shipment,
        "lines": [
            {
                "description": "SKU-001",
                "sku": "SKU-001",
                "quantity": 2,
                "tax_rate": "0.19",
                "net": money("33.60"),
                "tax": money("6.38"),
                "gross": money("39.98"),
            }
        ],
        "taxes": [{"rate": "0.19", "net": money("33.60"), "tax": money("6.38")}],
        "net": money("33.60"),
        "tax": money("6.38"),
        "gross": money("39.98"),
        "issued_on": "2026-11-26",
        "due_on": "2026-12-10",
    }


def broken(message: OrderSubmitted) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The submission with a quantity the contract refuses."""
    encoded = encode(message)
    return encoded.value.replace(b'"quantity":2', b'"quantity":0'), encoded.key, encoded.headers


def test_a_submission_places_one_order_however_often_it_arrives(
    intake: tuple[Intake, Topics, Producer], kafka_bootstrap: str
) -> None:
    app, topics, producer = intake
    publish(producer, topics.inbound, [submission("topic-1"), submission("topic-1")])
    # A broken resend has the same key, so it is handled after both copies: its rejection
    # coming out means every copy before it was handled too.
    value, key, headers = broken(submission("topic-1"))
    producer.produce(topics.inbound, value, key, headers=headers)  # type: ignore[arg-type]
    producer.flush(10)

    out = Outbox(kafka_bootstrap, topics.outbound).wait_for(
        lambda seen: bool(types(seen, OrderRejected))
    )

    placed = types(out, OrderPlaced)
    assert len(placed) == 1
    assert isinstance(placed[0], OrderPlaced)
    assert placed[0].order_id == ORDER
    assert placed[0].total.amount == Decimal("49.88")
    assert app.order("web", ORDER).status == "placed", "the broken resend changed nothing"


def test_another_order_under_a_used_external_id_is_dead_lettered_not_dropped(
    intake: tuple[Intake, Topics, Producer], kafka_bootstrap: str
) -> None:
    # Given an order placed from the channel topic
    app, topics, producer = intake
    publish(producer, topics.inbound, [submission("topic-2")])

    # when the channel sends a different order under the same external id,
    other = submission("topic-2", customer={"id": "c-9", "email": "x@example.com", "name": "X"})
    publish(producer, topics.inbound, [other])

    # then that one is dead-lettered, saying why, and the first order stands
    letters = dead_letters(kafka_bootstrap, topics.dead_letters, 1)
    assert [letter.reason for letter in letters] == ["handler_failed"]
    assert "'topic-2' of channel 'web' already names a different order" in letters[0].error
    placed = app.order("web", order_id_for("web", "topic-2"))
    assert placed.content["customer"]["id"] != "c-9"


def test_an_invalid_submission_is_rejected_with_reasons_and_garbage_dead_lettered(
    intake: tuple[Intake, Topics, Producer], kafka_bootstrap: str
) -> None:
    app, topics, producer = intake
    value, key, headers = broken(submission("topic-bad"))
    producer.produce(topics.inbound, value, key, headers=headers)  # type: ignore[arg-type]
    # Unreadable: no channel or external id to answer, so it is dead-lettered instead.
    producer.produce(topics.inbound, b"\x00garbage", b"k", headers=headers)  # type: ignore[arg-type]
    producer.flush(10)

    rejected = Outbox(kafka_bootstrap, topics.outbound).wait_for(lambda seen: bool(seen))

    assert isinstance(rejected[0], OrderRejected)
    assert rejected[0].external_id == "topic-bad"
    assert [reason.field for reason in rejected[0].reasons] == ["lines.0.quantity"]
    letters = dead_letters(kafka_bootstrap, topics.dead_letters, 1)
    assert [(letter.reason, letter.value) for letter in letters] == [("invalid", b"\x00garbage")]
    assert app.orders("web", None, None, 10)[0] == [], "nothing invalid became an order"


def test_an_order_runs_from_placed_to_completed_and_late_events_are_dead_lettered(
    intake: tuple[Intake, Topics, Producer], kafka_bootstrap: str
) -> None:
    app, topics, producer = intake
    publish(producer, topics.inbound, [submission("topic-1")])
    Outbox(kafka_bootstrap, topics.outbound).wait_for(lambda seen: bool(seen))

    steps = lifecycle(ORDER)
    publish(producer, topics.inbound, steps)
    outbox = Outbox(kafka_bootstrap, topics.outbound)
    outbox.wait_for(lambda seen: bool(types(seen, OrderCompleted)))
    late = Delivered(
        correlation_id=uuid4(),
        order_id=ORDER,
        source="fulfillment",
        source_position=3,
        shipment_id=uuid4(),
    )
    publish(producer, topics.inbound, [late])

    assert app.order("web", ORDER).status == "completed"
    letters = dead_letters(kafka_bootstrap, topics.dead_letters, 1)
    assert letters[0].reason == "handler_failed"
    assert "completed order cannot take a delivery" in letters[0].error
    assert app.submit(submission("topic-1"), "after-topic").body["order_id"] == str(ORDER)
