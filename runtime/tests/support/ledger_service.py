"""A small service for the runtime's own tests (not part of the product).

It consumes StockReceived events and appends each to a per-SKU ledger: a duplicate effect would
show as a reference listed twice. With LEDGER_OUT set, its relay republishes every entry as a
StockReceived of its own, so a downstream ledger can check at-least-once publication and
exactly-once application end to end. Configured by environment so tests can run it as its own
OS process with `orderflow service ledger_service:SERVICE`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from orderflow.runtime.spec import ServiceSpec
from orderflow.runtime.translation import Translator, translator
from orderflow.runtime.uow import UnitOfWork
from orderflow.schemas.inventory import StockReceived


def ledger_id(sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"ledger/{sku}")


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.references: list[str] = []

    @staticmethod
    def create_id(sku: str) -> UUID:
        return ledger_id(sku)  # one ledger per SKU: a second "open" is a version conflict

    @event("Received")
    def receive(self, sku: str, reference: str, quantity: int, correlation_id: UUID) -> None:
        self.references.append(reference)


class Ledgers(Application[UUID]):
    def references(self) -> dict[str, list[str]]:
        """Every ledger's references, read back from the store."""
        found: dict[str, list[str]] = {}
        for notification in self.recorder.select_notifications(start=1, limit=10**9):
            domain_event: Any = self.mapper.to_domain_event(notification)
            if isinstance(domain_event, Ledger.Opened):
                found.setdefault(domain_event.sku, [])
        for sku in found:
            found[sku] = list(self.repository.get(ledger_id(sku)).references)
        return found


def on_stock_received(received: StockReceived, uow: UnitOfWork) -> None:
    if received.reference == "refuse-me":
        raise ValueError("this ledger refuses references named refuse-me")
    ledger = uow.find(ledger_id(received.sku)) or Ledger(received.sku)
    ledger.receive(
        received.sku, received.reference or "", received.quantity, received.correlation_id
    )
    uow.add(ledger)


def finds(received: Any) -> list[UUID]:
    """The ledger an entry goes to: the first entry of a SKU opens it."""
    return [ledger_id(received.sku)]


def make_translate(name: str) -> Translator:
    """Publishes each entry as a StockReceived; the ledger's opening stays private."""

    def received(domain_event: Any, envelope: dict[str, Any]) -> StockReceived:
        return StockReceived(
            **envelope,
            sku=domain_event.sku,
            warehouse="ledger",
            quantity=domain_event.quantity,
            reference=domain_event.reference,
        )

    return translator(name, {"Ledger.Received": received})


def spec(name: str, consumes: str, group: str, publishes_to: str | None = None) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        application=lambda env, _: Ledgers(env=dict(env)),
        consumes=[consumes],
        handlers={StockReceived: on_stock_received},
        finds=finds,
        translate=make_translate(name) if publishes_to else None,
        topic_for=(lambda _: publishes_to) if publishes_to else None,
        publishes_to=[publishes_to] if publishes_to else [],
        group=group,
    )


def _from_env(env: Mapping[str, str]) -> ServiceSpec | None:
    if "LEDGER_NAME" not in env:
        return None
    return spec(env["LEDGER_NAME"], env["LEDGER_IN"], env["LEDGER_GROUP"], env.get("LEDGER_OUT"))


SERVICE = _from_env(os.environ)
