"""The intake application: places, cancels and finds orders, on the HTTP path and the topic path
alike; keeps every order listed by channel and status in the same transaction as its events."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from orderflow.intake.domain import (
    IdempotentRequest,
    IllegalTransition,
    Order,
    Status,
    idempotency_id_for,
    order_id_for,
)
from orderflow.runtime.conflicts import retry_on_conflict
from orderflow.runtime.loading import ServiceApplication, load_all
from orderflow.runtime.recorders import InboxRecorder, IndexCursor, IndexRow
from orderflow.schemas.common import lines_total
from orderflow.schemas.orders import OrderContent, OrderSubmitted

_CONTENT = set(OrderContent.model_fields)
_ENVELOPE = {"event_id", "type", "version", "occurred_at", "correlation_id", "causation_id"}
_SAVE_ATTEMPTS = 3


class NotFound(Exception):
    """No such order for this channel (another channel's order is not found either)."""


class Conflict(Exception):
    """The request contradicts what is stored: the order's state, or an earlier request."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def fingerprint(submission: OrderSubmitted) -> str:
    """The same order content gives the same hash, whatever its envelope (ids, times)."""
    return hashlib.sha256(submission.model_dump_json(exclude=_ENVELOPE).encode()).hexdigest()


def place(submission: OrderSubmitted) -> Order:
    total = lines_total(submission.lines) + submission.shipping_fee
    return Order(
        id=order_id_for(submission.channel, submission.external_id),
        content=submission.model_dump(mode="json", include=_CONTENT),
        total=total.model_dump(mode="json"),
        payment_token=submission.payment.token,
        correlation_id=submission.correlation_id,
        request_hash=fingerprint(submission),
    )


def accepted(order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "external_id": order.content["external_id"],
        "status": str(order.status),
    }


def _remembered(channel: str, key: str, request_hash: str, answer: Answer) -> IdempotentRequest:
    """The request under this key and the answer it got, for every retry of it."""
    return IdempotentRequest(
        id=idempotency_id_for(channel, key),
        request_hash=request_hash,
        status_code=answer.status_code,
        response=answer.body,
    )


def _placement(submission: OrderSubmitted, key: str) -> Placement:
    """The order a submission places, the key's record of it and the answer, unsaved."""
    order = place(submission)
    answer = Answer(202, accepted(order))
    return order, _remembered(submission.channel, key, order.request_hash, answer), answer


#: A placement asked for: the submission and its Idempotency-Key.
Request = tuple[OrderSubmitted, str]
Placement = tuple[Order, IdempotentRequest, Answer]
T = TypeVar("T")


def _outcome(submit: Callable[[OrderSubmitted, str], T], request: Request) -> T | Exception:
    try:
        return submit(*request)
    except Exception as refused:  # a Conflict, say: that request's answer, not the others'
        return refused


class Intake(ServiceApplication):
    def index_row(self, aggregate: Any) -> IndexRow | None:
        if not isinstance(aggregate, Order):
            return None
        created = int(aggregate.created_on.timestamp() * 1_000_000)
        return IndexRow(aggregate.id, aggregate.channel, str(aggregate.status), created)

    def submit(self, submission: OrderSubmitted, key: str) -> Answer:
        """Place the order once per (channel, key) and once per (channel, external id).

        Optimistically: a retry's order and key already exist, so the store refuses its save
        and the earlier answer is read then; a new order (nearly all) costs no read first."""
        order, remembered, answer = _placement(submission, key)
        try:
            self.save(order, remembered, index=[self.index_row(order)])
            return answer
        except IntegrityError:  # a concurrent twin won, under this key or another
            return self._after_conflict(submission, key, order.request_hash)

    def submit_all(self, requests: Sequence[Request]) -> list[Answer | Exception]:
        """Place many orders in one transaction, each as `submit` places it, answering each (or
        saying why not). Should the store refuse the batch (a retry or a twin of an order in
        it, or two requests of the batch for one order), each request goes again on its own."""
        if len(requests) == 1:  # its own transaction anyway: refused, it would be tried twice
            return [_outcome(self.submit, requests[0])]
        # one that cannot be placed is its own request's answer, not the whole batch's
        outcomes = [_outcome(_placement, request) for request in requests]
        try:
            self._save_placed([o for o in outcomes if not isinstance(o, Exception)])
        except IntegrityError:
            return [
                failed if isinstance(failed, Exception) else _outcome(self.submit, request)
                for failed, request in zip(outcomes, requests, strict=True)
            ]
        return [o if isinstance(o, Exception) else o[2] for o in outcomes]

    def _save_placed(self, placements: list[Placement]) -> None:
        if placements:
            self.save(
                *(
                    aggregate
                    for order, remembered, _ in placements
                    for aggregate in (order, remembered)
                ),
                index=[self.index_row(order) for order, _, _ in placements],
            )

    def _after_conflict(self, submission: OrderSubmitted, key: str, request_hash: str) -> Answer:
        earlier = self._answered(submission.channel, key, request_hash)
        if earlier is not None:
            return earlier
        order: Order = self.repository.get(order_id_for(submission.channel, submission.external_id))
        if order.request_hash != request_hash:
            raise Conflict(
                f"external_id {submission.external_id!r} already names a different order"
            )
        answer = Answer(202, accepted(order))
        try:
            self.save(_remembered(submission.channel, key, request_hash, answer))
        except IntegrityError:
            return self._after_conflict(submission, key, request_hash)
        return answer

    def _answered(self, channel: str, key: str, request_hash: str) -> Answer | None:
        try:
            record: IdempotentRequest = self.repository.get(idempotency_id_for(channel, key))
        except AggregateNotFoundError:
            return None
        if record.request_hash != request_hash:
            raise Conflict("Idempotency-Key was already used with a different request body")
        return Answer(record.status_code, record.response)

    def order(self, channel: str, order_id: UUID) -> Order:
        try:
            order: Order = self.repository.get(order_id)
        except AggregateNotFoundError:
            raise NotFound(f"no order {order_id}") from None
        if not isinstance(order, Order) or order.channel != channel:
            raise NotFound(f"no order {order_id}")
        return order

    def orders(
        self, channel: str, status: str | None, after: IndexCursor | None, limit: int
    ) -> tuple[list[Order], IndexCursor | None]:
        """A page of the channel's orders, newest first, and the cursor of the next page."""
        recorder: InboxRecorder = self.recorder  # type: ignore[assignment]
        rows = recorder.select_index(channel, status, after, limit + 1)
        page: list[Order] = load_all(self, [UUID(aggregate_id) for _, aggregate_id in rows[:limit]])
        return page, rows[limit - 1] if len(rows) > limit else None

    def cancel(self, channel: str, order_id: UUID, detail: str | None) -> Order:
        def attempt() -> Order:
            order = self.order(channel, order_id)
            if order.status is Status.CANCELLED:
                return order  # cancelling twice is harmless
            try:
                order.cancel(detail)
            except IllegalTransition as refused:
                raise Conflict(str(refused)) from None
            self.save(order, index=[self.index_row(order)])
            return order

        return retry_on_conflict(attempt, attempts=_SAVE_ATTEMPTS)
