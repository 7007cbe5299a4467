"""The local stack: the embedded broker (unless a cluster is configured), the project's topics,
a store per installed service, and every runnable service as its own process. `orderflow up`
and the tests both start it from here."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from orderflow.runtime.broker import BrokerFailed, EmbeddedBroker, answers
from orderflow.runtime.fleet import (
    DEV_CHANNEL_KEYS,
    ServiceProcess,
    start_services,
    stored_services,
)
from orderflow.runtime.settings import Settings
from orderflow.runtime.store import Store, store_for
from orderflow.runtime.topics import TopicState, ensure_topics
from orderflow.schemas.topics import ALL_TOPICS

_LOOPBACK = ("127.0.0.1", "localhost")


@dataclass
class LocalStack:
    settings: Settings
    broker: EmbeddedBroker | None = None
    topics: list[TopicState] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    with_services: bool = True
    second_instances: Sequence[str] = ()  # services that run a second instance (chaos)
    services: list[ServiceProcess] = field(default_factory=list)
    _exit: ExitStack = field(default_factory=ExitStack)

    @property
    def channel_keys(self) -> dict[str, str]:
        """The configured channel keys, or the development ones when none are."""
        return dict(self.settings.channel_keys) or dict(DEV_CHANNEL_KEYS)

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        bootstrap = self.settings.kafka_bootstrap
        if not answers(bootstrap):
            self.broker = self._exit.enter_context(self._embedded_broker(bootstrap))
        self.topics = ensure_topics(bootstrap, ALL_TOPICS, self.settings.partitions)
        self.stores = [store_for(name, self.settings) for name in stored_services()]
        if self.with_services:
            self.services = start_services(self.settings, self.channel_keys, self.second_instances)
            self._exit.callback(self._stop_services)

    def _stop_services(self) -> None:
        for service in self.services:  # all asked at once, so they drain side by side
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in self.services:
            service.stop()

    def _embedded_broker(self, bootstrap: str) -> EmbeddedBroker:
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        if host not in _LOOPBACK:
            raise BrokerFailed(f"no Kafka answers at {bootstrap} (ORDERFLOW_KAFKA_BOOTSTRAP)")
        return EmbeddedBroker(int(port), log_path=self.settings.data_dir / "logs" / "broker.log")

    def stop(self) -> None:
        self._exit.close()
        self.broker = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
