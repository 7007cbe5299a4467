"""Tracking and the projection workers register as services: `orderflow up` runs each as its
own process, with no event store (they are the read side)."""

import pytest

from orderflow.runtime.fleet import stored_services
from orderflow.runtime.services import installed_services
from orderflow.runtime.spec import resolve

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["tracking", "projections"])
def test_the_read_side_runs_as_services_without_a_store(name: str) -> None:
    assert name in installed_services()
    assert resolve(name).application is None
    assert name not in stored_services()
