"""The billing service registers itself, so `orderflow up` gives it a store of its own."""

import pytest

from orderflow.runtime.services import installed_services

pytestmark = pytest.mark.unit


def test_billing_is_an_installed_service() -> None:
    assert "billing" in installed_services()
