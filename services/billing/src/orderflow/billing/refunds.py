"""Refunds after commit: a follower of billing's notification log asks the payment provider to
refund each credit note once the note is committed, under the key `refund/{note number}`.

Why not in the handler or the returns call, inside the transaction: a refund made there stays
made when the transaction then loses a version conflict. The retry credits a different amount
(say a return committed in between), but under the key of the first try the provider answers
with the first refund, so the customer got the return twice. After commit, a note's number and
amount are final; the position is saved after the provider answered, so a crash asks again under
the same key, and the provider refunds once. The note then records when it was refunded, which
its API shows and the audit checks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from prometheus_client import Counter

from orderflow.billing.application import Billing
from orderflow.billing.domain import Document
from orderflow.billing.payments import RefundRefused
from orderflow.runtime.lease import lease_for
from orderflow.runtime.metrics import RELAY_LAG, RETRIES
from orderflow.runtime.recorders import InboxRecorder
from orderflow.runtime.retry import Backoff
from orderflow.runtime.uow import UnitOfWork

log = structlog.get_logger("orderflow.billing.refunds")

NAME = "billing-refunds"  # its position among the store's relay positions, and its lag gauge
_ISSUED = get_topic(Document.Issued)  # type: ignore[attr-defined]
#: A refund is not urgent: look once a second rather than wake on every billing commit (each
#: look is two queries: where the worker is, and how far the store goes).
POLL_S = 1.0
REFUNDS = Counter(
    "orderflow_refunds", "Credit notes refunded, or refused for good by the provider.", ["outcome"]
)
for _outcome in ("refunded", "refused"):  # from 0, so an alert sees the first refusal
    REFUNDS.labels(_outcome)


def refund_next(
    billing: Billing, batch_size: int = 500, still_held: Callable[[], bool] = lambda: True
) -> int:
    """Refund the credit notes issued after the saved position and save the position past
    them; the number of documents read (0: caught up). Before each note it asks whether this
    instance still holds the refunds' lease (each ask also tells the lease it is not wedged:
    a batch of slow refunds can outlast the wedge's limit)."""
    recorder: InboxRecorder = billing.recorder  # type: ignore[assignment]
    position, newest = recorder.relay_position(NAME), recorder.max_notification_id() or 0
    RELAY_LAG.labels(NAME).set(newest - position)  # stays up while a refund keeps failing
    if newest <= position:
        return 0
    # only documents' Issued events, up to what is committed now (ids commit in order)
    issued = recorder.select_notifications(position + 1, batch_size, newest, [_ISSUED])
    done = issued[-1].id if len(issued) == batch_size else newest
    for index, notification in enumerate(issued):
        document = billing.mapper.to_domain_event(notification)
        if _to_refund(document) and not still_held():  # another instance goes on from here
            done = issued[index - 1].id if index else position
            break
        _refund(billing, document)
    if done > position:
        recorder.save_relay_position(NAME, done)
    RELAY_LAG.labels(NAME).set(newest - done)
    return len(issued)


def _to_refund(issued: Any) -> bool:
    """A credit note with a payment to refund to (not one issued before notes named it)."""
    return issued.kind == "credit_note" and getattr(issued, "refund_to", None) is not None


def _refund(billing: Billing, issued: Any) -> None:
    if not _to_refund(issued):
        return
    refund_to: UUID = issued.refund_to
    uow = UnitOfWork(billing)
    note: Document = uow.get(issued.originator_id)
    if note.refund_settled:  # another billing process's worker was first
        return
    amount, currency = note.gross
    now = datetime.now(UTC).isoformat()
    try:
        billing.gateway.refund(f"refund/{note.number}", refund_to, amount, currency)
    except RefundRefused as refused:  # for good: recorded, and the notes after it go on
        note.refund_failed(str(refused), now)
    else:
        note.refunded(now)
    try:
        uow.commit([])
    except IntegrityError:
        # Another billing process's worker recorded it first (one holds the lease, but a
        # lease can change hands mid-refund): it asked the provider under the same key (one
        # refund), and the first record stands.
        if not _recorded(billing, note.number):
            raise
        return
    _report(note, amount, currency)


def _recorded(billing: Billing, number: str) -> bool:
    stored = billing.document(number)
    return stored is not None and stored.refund_settled


def _report(note: Document, amount: Decimal, currency: str) -> None:
    if note.refund_refused is None:
        REFUNDS.labels("refunded").inc()
        log.info("refunded", credit_note=note.number, amount=str(amount), currency=currency)
    else:
        REFUNDS.labels("refused").inc()
        log.error(
            "refund refused: pay the customer back another way",
            credit_note=note.number,
            amount=str(amount),
            currency=currency,
            reason=note.refund_refused,
        )


def refund_credit_notes(app: Application[UUID], stopping: threading.Event) -> None:
    """The worker: refund until stopped. Every failure, the provider's included, waits and
    tries the same notes again: a credit note is never skipped. A refusal for good is recorded
    on the note (and logged as an error) and the worker goes on; any other failure holds up
    the notes after it until it passes (the lag gauge and the warnings say so)."""
    assert isinstance(app, Billing)
    backoff, lease = Backoff(), lease_for(app, NAME)  # one instance's worker asks the provider
    try:
        while not stopping.is_set():
            try:
                if not lease.hold():
                    _report_lag(app)  # the holder's progress, as the store shows it
                    stopping.wait(POLL_S)
                elif refund_next(app, still_held=lease.hold) == 0:
                    stopping.wait(POLL_S)
                backoff.reset()
            except Exception as error:  # retried, never dropped
                log.warning("refunds retrying", error=str(error))
                RETRIES.labels("refunds").inc()
                backoff.wait(stopping)
    finally:
        lease.close()


def _report_lag(billing: Billing) -> None:
    recorder: InboxRecorder = billing.recorder  # type: ignore[assignment]
    newest = recorder.max_notification_id() or 0
    RELAY_LAG.labels(NAME).set(max(0, newest - recorder.relay_position(NAME)))
