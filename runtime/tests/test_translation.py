"""A service's translator publishes the domain events it has a builder for, and tells the relay
by a stored event's topic alone, so the relay need not read the private ones."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from hypothesis import given
from hypothesis import strategies as st
from ledger_service import Ledger, make_translate

from orderflow.runtime.translation import _uuid5_url


def test_the_translator_names_what_it_publishes_by_stored_topic() -> None:
    translate = make_translate("ledger")

    assert translate.publishes("ledger_service:Ledger.Received")
    assert not translate.publishes("ledger_service:Ledger.Opened")


def test_a_private_event_translates_to_nothing_and_a_published_one_keeps_its_id() -> None:
    ledger = Ledger("SKU-1")
    ledger.receive("SKU-1", "in-1", 3, ledger.id)
    opened, received = ledger.collect_events()
    translate = make_translate("ledger")

    assert translate(opened, 1) is None
    first, again = translate(received, 2), translate(received, 2)
    assert first is not None
    assert again is not None
    assert (first.reference, first.source_position) == ("in-1", 2)
    assert first.event_id == again.event_id, "a republished event is the same event"
    origin = f"orderflow:ledger/{received.originator_id}/{received.originator_version}"
    assert first.event_id == uuid5(NAMESPACE_URL, origin), "the id readers were promised"


@given(name=st.text())
def test_the_derived_event_id_is_uuid5_of_its_origin_for_any_name(name: str) -> None:
    assert _uuid5_url(name) == uuid5(NAMESPACE_URL, name)
