"""The sandbox payment provider answers as a provider does by idempotency key, and remembers a
bounded number of calls: a billing process that runs for days must not grow with every order."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from orderflow.billing.payments import (
    APPROVE,
    REMEMBERED,
    TIME_OUT,
    GatewayTimeout,
    SandboxGateway,
)

MORE_THAN_REMEMBERED = REMEMBERED + 2_500


def test_a_long_run_leaves_the_sandbox_remembering_only_the_newest_calls() -> None:
    gateway = SandboxGateway()

    # Given many more orders than it remembers, each authorised, voided by key and refunded
    for n in range(MORE_THAN_REMEMBERED):
        gateway.authorise(f"authorise/{n}", APPROVE, Decimal("10.00"), "EUR")
        gateway.void_by_key(f"authorise/{n}")
        gateway.refund(f"refund/{n}", uuid.uuid4(), Decimal("1.00"), "EUR")

    # then each of its records holds the newest only,
    assert len(gateway.calls) == REMEMBERED
    assert len(gateway.approved) == len(gateway.refunded) == len(gateway.voided) == REMEMBERED
    assert f"authorise/{MORE_THAN_REMEMBERED - 1}" in gateway.approved
    assert "authorise/0" not in gateway.approved

    # and a recent key is still answered as the first time: a repeated refund refunds once
    newest = f"refund/{MORE_THAN_REMEMBERED - 1}"
    gateway.refund(newest, uuid.uuid4(), Decimal("99.00"), "EUR")
    assert gateway.refunded[newest] == Decimal("1.00")


def test_a_timed_out_authorisation_is_approved_on_its_retry_after_a_busy_spell() -> None:
    gateway = SandboxGateway()
    with pytest.raises(GatewayTimeout):
        gateway.authorise("authorise/slow", TIME_OUT, Decimal("5.00"), "EUR")

    for n in range(REMEMBERED // 2):  # other orders meanwhile, fewer than it remembers
        gateway.authorise(f"authorise/{n}", APPROVE, Decimal("10.00"), "EUR")

    assert gateway.authorise("authorise/slow", TIME_OUT, Decimal("5.00"), "EUR").approved
