"""The payment port: what a real provider offers (authorise, capture, void, refund), each call
with an idempotency key, so a call repeated after a crash or a timeout has one effect; and a
void by key, for an authorisation whose answer was lost (providers call it a technical cancel,
by the merchant's own reference).

`SandboxGateway` stands in for the provider (an external system we do not own), deterministic
by card token:

| token | authorise |
|---|---|
| `tok_ok` | approved |
| `tok_decline` | declined ("card declined") |
| `tok_timeout` | approved, but the first answer for a key is lost (a timeout); a retry gets it |
| anything else | declined ("unknown token") |

Refunds succeed, except to the payments it is told to refuse them to (`refuse_refunds_to`),
which a provider does for good when, say, the card's account is closed.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# Sandbox card tokens (test data, not secrets).
APPROVE, DECLINE, TIME_OUT = "tok_ok", "tok_decline", "tok_timeout"


class GatewayTimeout(TimeoutError):
    """The provider did not answer in time: retry with the same idempotency key."""


class RefundRefused(Exception):
    """The provider refuses this refund for good (say, the card's account is closed): asking
    again will not help, and someone has to pay the customer back another way."""


@dataclass(frozen=True)
class Authorisation:
    approved: bool
    payment_id: uuid.UUID
    reason: str = ""


class PaymentGateway(Protocol):
    def authorise(self, key: str, token: str, amount: Decimal, currency: str) -> Authorisation: ...

    def capture(self, key: str, payment_id: uuid.UUID, amount: Decimal, currency: str) -> None: ...

    def void(self, key: str, payment_id: uuid.UUID) -> None: ...

    def void_by_key(self, key: str) -> None:
        """Void what was authorised under `key`, if anything was: for an attempt whose answer
        was lost in a crash, which the provider knows by our key alone."""
        ...

    def refund(self, key: str, payment_id: uuid.UUID, amount: Decimal, currency: str) -> None: ...


class SandboxGateway:
    def __init__(self, refuse_refunds_to: frozenset[uuid.UUID] = frozenset()) -> None:
        self.refuse_refunds_to = refuse_refunds_to  # payments whose refunds it refuses
        self._lock = threading.Lock()
        self._timed_out: set[str] = set()
        self.calls: list[tuple[str, str]] = []  # (operation, key), for tests and the curious
        self.refunded: dict[str, Decimal] = {}  # key → amount: a repeated key refunds once
        self.approved: dict[str, uuid.UUID] = {}  # authorisation key → its payment
        self.voided: set[uuid.UUID] = set()  # payments whose hold on the card was released

    def authorise(self, key: str, token: str, amount: Decimal, currency: str) -> Authorisation:
        payment_id = uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{key}")  # same key, same answer
        with self._lock:
            self.calls.append(("authorise", key))
            if token in (APPROVE, TIME_OUT):
                self.approved[key] = payment_id  # the hold is made before any answer is lost
            if token == TIME_OUT and key not in self._timed_out:
                self._timed_out.add(key)
                raise GatewayTimeout(f"sandbox: no answer for {key} (retry succeeds)")
        if token in (APPROVE, TIME_OUT):
            return Authorisation(True, payment_id)
        reason = "card declined" if token == DECLINE else f"unknown token {token!r}"
        return Authorisation(False, payment_id, reason)

    def capture(self, key: str, payment_id: uuid.UUID, amount: Decimal, currency: str) -> None:
        self._record("capture", key)

    def void(self, key: str, payment_id: uuid.UUID) -> None:
        self._record("void", key)
        with self._lock:
            self.voided.add(payment_id)

    def void_by_key(self, key: str) -> None:
        self._record("void_by_key", key)
        with self._lock:
            if key in self.approved:
                self.voided.add(self.approved[key])

    def refund(self, key: str, payment_id: uuid.UUID, amount: Decimal, currency: str) -> None:
        self._record("refund", key)
        if payment_id in self.refuse_refunds_to:
            raise RefundRefused(f"sandbox: refunds to payment {payment_id} are refused")
        with self._lock:
            self.refunded.setdefault(key, amount)  # as a provider does: the first answer stands

    def _record(self, operation: str, key: str) -> None:
        with self._lock:
            self.calls.append((operation, key))
