"""Process settings: one pydantic-settings class, read from `ORDERFLOW_*` variables.

Every process validates its settings at start. A bad value must stop it with one line naming the
variable, never a traceback, so an operator sees at once what to fix (`load_settings`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from confluent_kafka import KafkaException, Producer
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from orderflow.runtime.kafka import reason_of

ENV_PREFIX = "ORDERFLOW_"

_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


def _bootstrap_list(value: str) -> str:
    servers = [server.strip() for server in value.split(",")]
    bad = [server for server in servers if not _HOST_PORT.match(server)]
    if not servers or bad:
        raise ValueError("expected host:port[,host:port...]")
    return ",".join(servers)


#: A host name: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_NAME.fullmatch(value):
            raise ValueError(
                "expected an IP address or a host name, such as 127.0.0.1 or 0.0.0.0"
            ) from None
    return value


def _unset_when_empty(value: object) -> object:
    # `ORDERFLOW_DATABASE_URL=` (compose's ${VAR:-}, say) means no database, as unset does
    return None if value == "" else value


def _postgres_url(value: str) -> str:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("postgresql", "postgres"):
        raise ValueError("expected a postgresql://user:password@host:port/dbname URL")
    return value


#: librdkafka properties that carry our guarantees (or have a setting of their own): the
#: Kafka options may add to a client's configuration, never change these.
OWNED_KAFKA_PROPERTIES = frozenset(
    {
        "bootstrap.servers",  # ORDERFLOW_KAFKA_BOOTSTRAP
        "group.id",  # one group per service or projection
        "enable.auto.commit",  # offsets follow the database commit
        "enable.idempotence",  # the relay never duplicates or reorders within a session
        "acks",
        "auto.offset.reset",  # a new group reads a topic from its beginning
    }
)
_KAFKA_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def _kafka_options(options: dict[str, str]) -> dict[str, str]:
    malformed = sorted(name for name in options if not _KAFKA_PROPERTY.match(name))
    if malformed:
        raise ValueError(f"not librdkafka property names: {', '.join(malformed)}")
    owned = sorted(OWNED_KAFKA_PROPERTIES.intersection(options))
    if owned:
        raise ValueError(f"{', '.join(owned)} cannot be changed: orderflow sets them")
    if options:
        _librdkafka_accepts(options)
    return options


def _librdkafka_accepts(options: dict[str, str]) -> None:
    """librdkafka's own check of names and values, at start rather than at the first client:
    a client made with no broker to reach (so it connects nowhere) and dropped."""
    try:
        Producer({**options, "log_level": 0})  # silent: consumer properties warn a producer
    except KafkaException as error:
        raise ValueError(reason_of(error)) from None


Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ApiKey = Annotated[str, StringConstraints(min_length=8, max_length=256)]


Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Warehouse(BaseModel):
    """A stock location; a lower priority number is preferred when an order must be split."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Name
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: int = Field(ge=1, le=1000)
    country: Country


DEFAULT_WAREHOUSES = (
    Warehouse(id="berlin", name="Berlin", priority=1, country="DE"),
    Warehouse(id="paris", name="Paris", priority=2, country="FR"),
)


def _distinct_ids(warehouses: tuple[Warehouse, ...]) -> tuple[Warehouse, ...]:
    ids = [warehouse.id for warehouse in warehouses]
    if len(set(ids)) != len(ids):
        raise ValueError("warehouse ids must be distinct")
    return warehouses


def _a_key_per_channel(keys: dict[str, str]) -> dict[str, str]:
    """A key names its channel: one shared by two would act for the first only, and the other
    channel could never read or cancel its own orders. (The key itself is never said.)"""
    holders: dict[str, list[str]] = {}
    for channel, key in keys.items():
        holders.setdefault(key, []).append(channel)
    shared = [" and ".join(channels) for channels in holders.values() if len(channels) > 1]
    if shared:
        raise ValueError(
            f"each channel needs a key of its own; one key is shared by {', '.join(shared)}"
        )
    return keys


class Settings(BaseSettings):
    """Settings shared by every orderflow process; a service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: Annotated[str, AfterValidator(_bootstrap_list)] = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers; the embedded broker binds here."
    )
    kafka_options: Annotated[dict[str, str], AfterValidator(_kafka_options)] = Field(
        default_factory=dict,
        description="More librdkafka properties for every Kafka client, such as TLS and SASL,"
        ' JSON: {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", ...}.',
    )
    database_url: Annotated[
        Annotated[str, AfterValidator(_postgres_url)] | None, BeforeValidator(_unset_when_empty)
    ] = Field(
        None,
        description="PostgreSQL URL; unset or empty means one SQLite file per service in the"
        " data dir.",
    )
    data_dir: Path = Field(
        Path("var"), description="SQLite stores and logs (relative to the working directory)."
    )
    # 2, not more, by default: the embedded broker checks every partition a consumer holds on
    # each fetch, even with nothing new, so each partition costs CPU on a small machine whether
    # or not anything flows (an idle stack: 47% of a core at 6, 19% at 2). Two still let two
    # instances of a service share the work; a cluster sets its own (deploy/ uses 6 and 12).
    partitions: int = Field(
        2, ge=1, le=256, description="Partitions per topic when creating topics."
    )
    # latency against CPU: measured on 2 cores at 100 orders/s, 50 ms gave placed -> invoiced
    # p50/p99 310/482 ms for 7.7 CPU ms and 9.1 transactions per order, 5 ms 199/337 ms for
    # 8.8 ms and 13.1; at saturation, 50 ms ended 275 orders/s and 5 ms 249 (README, Settings)
    consumer_linger_ms: int = Field(
        50,
        ge=0,
        le=1000,
        description="How long a service's consumer batch waits to fill once its first message"
        " is here (ms): less is lower latency, more is less CPU per order.",
    )
    host: Annotated[str, AfterValidator(_host)] = Field(
        "127.0.0.1", min_length=1, description="Interface the HTTP APIs bind to."
    )
    tracking_port: Port = Field(8000, description="Tracking web UI and read-model API.")
    intake_port: Port = Field(8001, description="Order-intake API.")
    inventory_port: Port = Field(8002, description="Inventory API.")
    billing_port: Port = Field(8003, description="Billing API.")
    fulfillment_port: Port = Field(8004, description="Fulfillment API.")
    projections_port: Port = Field(8005, description="Projection workers' health and metrics.")
    channel_keys: Annotated[dict[Name, ApiKey], AfterValidator(_a_key_per_channel)] = Field(
        default_factory=dict, description='Channel API keys, JSON: {"web": "<key>", ...}.'
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of every process."
    )
    warehouses: Annotated[tuple[Warehouse, ...], AfterValidator(_distinct_ids)] = Field(
        DEFAULT_WAREHOUSES,
        min_length=1,
        description='Inventory\'s warehouses, JSON: [{"id", "name", "priority", "country"}].',
    )
    reservation_ttl_s: float = Field(
        900, gt=0, le=86_400 * 7, description="Seconds a reservation waits for payment."
    )
    low_stock_threshold: int = Field(
        5, ge=0, le=100_000_000, description="Default low-stock threshold of a SKU."
    )
    tracking_feed_kept: int = Field(
        1_000_000,
        ge=1_000,
        le=1_000_000_000,
        description="Updates the tracking feed keeps for live pages (about one per event);"
        " older ones are pruned every minute.",
    )
    simulate_warehouse: bool = Field(
        True, description="Fulfillment's warehouse simulator picks, packs, ships and delivers."
    )
    warehouse_delay_s: float = Field(
        0, ge=0, le=3600, description="Seconds the simulator waits before each shipment step."
    )
    carrier_webhook_secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] = (
        Field("dev-carrier-webhook-secret", description="HMAC-SHA256 key of carrier webhooks.")
    )


class SettingsInvalid(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


S = TypeVar("S", bound=Settings)


def load_settings(cls: type[S] = Settings) -> S:  # type: ignore[assignment]
    """Read and validate settings, turning any failure into one readable line."""
    try:
        return cls()
    except ValidationError as error:
        raise SettingsInvalid(_describe_validation(error)) from None
    except SettingsError as error:
        raise SettingsInvalid(_describe_parse_error(error)) from None


def variable_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


# Values never echoed back: they may hold credentials.
_SECRET_FIELDS = frozenset(
    {"database_url", "channel_keys", "carrier_webhook_secret", "kafka_options"}
)


def _describe_validation(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        location = [str(part) for part in detail["loc"]]
        where = variable_name(location[0]) if location else "settings"
        inside = f" (at {'.'.join(location[1:])})" if len(location) > 1 else ""
        message = detail["msg"].removeprefix("Value error, ")
        shown = "" if location and location[0] in _SECRET_FIELDS else f" (got {detail['input']!r})"
        problems.append(f"{where}{inside}: {message}{shown}")
    return "invalid setting: " + "; ".join(problems)


def _describe_parse_error(error: SettingsError) -> str:
    field = re.search(r'field "([^"]+)"', str(error))
    where = variable_name(field.group(1)) if field else "settings"
    return f"invalid setting: {where}: not valid JSON"
