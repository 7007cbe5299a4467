"""The Kafka options (TLS, SASL, tuning) reach every client the process makes, and never the
properties our guarantees rest on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.runtime import kafka

pytestmark = pytest.mark.unit

SASL = {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "fetch.wait.max.ms": "500"}


@pytest.fixture(autouse=True)
def no_options_after() -> Iterator[None]:
    yield
    kafka.use_options({})


def test_every_kind_of_client_carries_the_options() -> None:
    kafka.use_options(SASL)

    configs = [
        kafka.producer_config("kafka-1:9092"),
        kafka.consumer_config("kafka-1:9092", "orderflow.billing"),
        kafka.client_config("kafka-1:9092", **{"group.id": "watermarks"}),
    ]

    for config in configs:
        assert SASL.items() <= config.items()
        assert config["bootstrap.servers"] == "kafka-1:9092"


def test_the_guarantees_properties_stay_ours() -> None:
    kafka.use_options(SASL)

    producer = kafka.producer_config("kafka-1:9092")
    consumer = kafka.consumer_config("kafka-1:9092", "orderflow.billing")

    assert (producer["enable.idempotence"], producer["acks"]) == (True, "all")
    assert (consumer["enable.auto.commit"], consumer["group.id"]) == (False, "orderflow.billing")
    assert consumer["auto.offset.reset"] == "earliest"


def test_without_options_a_client_is_as_before() -> None:
    config = kafka.consumer_config("127.0.0.1:9092", "orderflow.inventory")

    assert "security.protocol" not in config
    assert config["fetch.wait.max.ms"] == 50


def test_options_tune_our_defaults_but_not_what_a_caller_needs() -> None:
    kafka.use_options({"fetch.wait.max.ms": "500", "enable.partition.eof": "false"})

    consumer = kafka.consumer_config("kafka-1:9092", "orderflow.billing")
    history_reader = kafka.client_config("kafka-1:9092", **{"enable.partition.eof": True})

    assert consumer["fetch.wait.max.ms"] == "500"
    assert history_reader["enable.partition.eof"] is True


def test_a_read_models_consumer_waits_longer_and_the_options_still_tune_it() -> None:
    # Given a read model's consumer, which may wait longer for an empty fetch than a service's
    def read_model() -> dict[str, object]:
        group, wait = "orderflow.projection.tracking.g1", kafka.READ_MODEL_FETCH_WAIT_MS
        return kafka.consumer_config("kafka-1:9092", group, fetch_wait_ms=wait)

    assert read_model()["fetch.wait.max.ms"] == 500

    # when the Kafka options name a wait of their own,
    kafka.use_options({"fetch.wait.max.ms": "100"})

    # then theirs is the one used.
    assert read_model()["fetch.wait.max.ms"] == "100"
