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

A provider keeps its records for good, in its own storage; the sandbox keeps them in the
billing process's memory, so it remembers only the newest `REMEMBERED` of each kind. Retries
come within minutes, which is all it needs to answer them as a provider would; remembering
every order, a billing process that ran for a day grew by about half a kilobyte an order.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar

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


K = TypeVar("K")
V = TypeVar("V")
REMEMBERED = 10_000


class _Newest(OrderedDict[K, V]):
    """A mapping that forgets its oldest entries beyond `REMEMBERED`."""

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > REMEMBERED:
            self.popitem(last=False)


class SandboxGateway:
    def __init__(self, refuse_refunds_to: frozenset[uuid.UUID] = frozenset()) -> None:
        self.refuse_refunds_to = refuse_refunds_to  # payments whose refunds it refuses
        self._lock = threading.Lock()
        self._timed_out: _Newest[str, None] = _Newest()
        self._calls: deque[tuple[str, str]] = deque(maxlen=REMEMBERED)
        self.refunded: _Newest[str, Decimal] = _Newest()  # key → amount: a key refunds once
        self.approved: _Newest[str, uuid.UUID] = _Newest()  # authorisation key → its payment
        self._voided: _Newest[uuid.UUID, None] = _Newest()  # an ordered set, as a mapping

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(operation, key) of the newest calls, oldest first: for tests and the curious."""
        with self._lock:
            return list(self._calls)

    @property
    def voided(self) -> set[uuid.UUID]:
        """Payments whose hold on the card was released."""
        with self._lock:
            return set(self._voided)

    def authorise(self, key: str, token: str, amount: Decimal, currency: str) -> Authorisation:
        payment_id = uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{key}")  # same key, same answer
        with self._lock:
            self._calls.append(("authorise", key))
            if token in (APPROVE, TIME_OUT):
                self.approved[key] = payment_id  # the hold is made before any answer is lost
            if token == TIME_OUT and key not in self._timed_out:
                self._timed_out[key] = None
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
            self._voided[payment_id] = None

    def void_by_key(self, key: str) -> None:
        self._record("void_by_key", key)
        with self._lock:
            if key in self.approved:
                self._voided[self.approved[key]] = None

    def refund(self, key: str, payment_id: uuid.UUID, amount: Decimal, currency: str) -> None:
        self._record("refund", key)
        if payment_id in self.refuse_refunds_to:
            raise RefundRefused(f"sandbox: refunds to payment {payment_id} are refused")
        with self._lock:
            self.refunded.setdefault(key, amount)  # as a provider does: the first answer stands

    def _record(self, operation: str, key: str) -> None:
        with self._lock:
            self._calls.append((operation, key))
