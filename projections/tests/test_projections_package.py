"""The projection workers register as a service, so they get a store of their own."""

import pytest

from orderflow.runtime.services import installed_services

pytestmark = pytest.mark.unit


def test_projections_is_an_installed_service() -> None:
    assert "projections" in installed_services()
