"""Property-based fuzzing of the intake API from its own OpenAPI document (schemathesis): no
input, valid or not, gives a 5xx or an answer that breaks the documented schema (status code,
content type, headers, body).

Not checked: that every schema-valid body is accepted. The JSON schema cannot say all the
contract's rules (an ISO 4217 code, an amount exact to the currency's minor unit), so a
schema-valid body can rightly be refused with a 422 that names the field.

Each operation is driven by hypothesis directly (schemathesis' pytest fixture loader does not
run on pytest 9), with the web channel's key; the key itself is fuzzed by the 401 tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from intake_api import WEB, api_of, intake_host
from schemathesis import checks

from orderflow.runtime.settings import Settings

pytestmark = pytest.mark.integration
EXAMPLES = 60
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def test_the_api_keeps_its_documented_contract(
    store_settings: Settings, kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    settings_with_broker = store_settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    api, app = api_of(intake_host(settings_with_broker, unique))
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    fuzzed = []
    try:
        for found in schema.get_all_operations():
            operation = found.ok()
            fuzzed.append(operation.label)

            wanted = checks_for(operation.label)

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def keeps_contract(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=WEB, checks=wanted)  # noqa: B023 - run at once

            keeps_contract()
    finally:
        app.close()
    assert "POST /orders" in fuzzed


def checks_for(label: str) -> list[Callable[..., object]]:
    """Every check, but a 503 from /readyz is its documented answer here: the host under test
    serves its API without running its consumer, which so never joins a group."""
    if label == "GET /readyz":
        return [check for check in CHECKS if check is not checks.not_a_server_error]
    return CHECKS
