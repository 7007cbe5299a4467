"""Settings: valid values load, a bad one is one line naming the variable."""

import json

import pytest

from orderflow.runtime.settings import Settings, SettingsInvalid, load_settings

pytestmark = pytest.mark.unit


def test_defaults_match_the_documented_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP", "DATABASE_URL", "PARTITIONS", "INTAKE_PORT"):
        monkeypatch.delenv(f"ORDERFLOW_{name}", raising=False)

    settings = load_settings()

    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.database_url is None
    assert (settings.tracking_port, settings.intake_port, settings.fulfillment_port) == (
        8000,
        8001,
        8004,
    )


def test_an_empty_database_url_means_sqlite_as_an_unset_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "")  # compose's ${VAR:-}, say

    assert load_settings().database_url is None


def test_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_HOST", "orders-1.internal")
    monkeypatch.setenv("ORDERFLOW_PARTITIONS", "12")
    monkeypatch.setenv("ORDERFLOW_CHANNEL_KEYS", '{"web": "dev-web-key"}')
    monkeypatch.setenv("ORDERFLOW_KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:9092")

    settings = load_settings()

    assert settings.host == "orders-1.internal"
    assert settings.partitions == 12
    assert settings.channel_keys == {"web": "dev-web-key"}
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDERFLOW_PARTITIONS", "abc"),
        ("ORDERFLOW_PARTITIONS", "0"),
        ("ORDERFLOW_INTAKE_PORT", "70000"),
        ("ORDERFLOW_KAFKA_BOOTSTRAP", "no-port"),
        ("ORDERFLOW_DATABASE_URL", "mysql://db/orders"),
        ("ORDERFLOW_CHANNEL_KEYS", "{not json"),
        ("ORDERFLOW_LOG_LEVEL", "LOUD"),
        ("ORDERFLOW_HOST", "not a host"),
        ("ORDERFLOW_KAFKA_OPTIONS", '{"enable.auto.commit": "true"}'),
        ("ORDERFLOW_KAFKA_OPTIONS", '{"no.such.property": "1"}'),
        ("ORDERFLOW_KAFKA_OPTIONS", '{"security.protocol": "carrier-pigeon"}'),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsInvalid) as raised:
        load_settings()

    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


def test_secrets_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "mysql://admin:hunter22@db/orders")
    monkeypatch.setenv("ORDERFLOW_CHANNEL_KEYS", '{"web": "short"}')

    with pytest.raises(SettingsInvalid) as raised:
        load_settings()

    assert "hunter22" not in str(raised.value)
    assert "short" not in str(raised.value)
    assert "ORDERFLOW_CHANNEL_KEYS (at web)" in str(raised.value)


def test_two_channels_may_not_share_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a web and a marketplace channel configured with one key between them
    keys = {"web": "secretsecret123", "mp": "secretsecret123", "b2b": "another-key-456"}
    monkeypatch.setenv("ORDERFLOW_CHANNEL_KEYS", json.dumps(keys))

    # when the settings load, then they are refused, naming the channels and not the key
    with pytest.raises(SettingsInvalid) as raised:
        load_settings()
    assert "one key is shared by web and mp" in str(raised.value)
    assert "secretsecret123" not in str(raised.value)


def test_kafka_options_for_tls_and_sasl_are_checked_by_librdkafka_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "orderflow",
        "sasl.password": "hunter22",
    }
    monkeypatch.setenv("ORDERFLOW_KAFKA_OPTIONS", json.dumps(options))

    assert load_settings().kafka_options == options


def test_kafka_options_never_echo_their_values_nor_change_our_guarantees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_KAFKA_OPTIONS", '{"sasl.password": "hunter22", "acks": "1"}')

    with pytest.raises(SettingsInvalid) as raised:
        load_settings()

    assert "hunter22" not in str(raised.value)
    assert "acks cannot be changed" in str(raised.value)


def test_a_service_subclass_adds_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    class InventorySettings(Settings):
        reservation_ttl_s: int = 900

    monkeypatch.setenv("ORDERFLOW_RESERVATION_TTL_S", "soon")

    with pytest.raises(SettingsInvalid, match="ORDERFLOW_RESERVATION_TTL_S"):
        load_settings(InventorySettings)
