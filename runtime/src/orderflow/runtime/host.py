"""`orderflow service <name>`: one process running a service's consumer loop, relay and HTTP API.

SIGTERM or Ctrl-C: stop taking new batches, let the batch in hand commit, leave the consumer
group (so partitions move at once), stop the API, exit 0, all within the drain deadline."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any
from uuid import UUID

import structlog
import uvicorn
from eventsourcing.application import Application
from fastapi import FastAPI

from orderflow.runtime.consumer import ConsumerLoop
from orderflow.runtime.health import health_routes
from orderflow.runtime.http import harden
from orderflow.runtime.kafka import admin_client, new_consumer, new_producer
from orderflow.runtime.lease import lease_for
from orderflow.runtime.relay import Relay
from orderflow.runtime.settings import Settings
from orderflow.runtime.spec import ServiceSpec
from orderflow.runtime.store import store_for
from orderflow.runtime.watermarks import never_written

log = structlog.get_logger("orderflow.host")
DRAIN_DEADLINE_S = 8.0
_TICK_S = 0.25  # how often the main loop looks for a stop signal and for dead threads


class ServiceHost:
    def __init__(self, spec: ServiceSpec, settings: Settings, port: int | None = None) -> None:
        self.spec, self.settings = spec, settings
        self.port = spec.port(settings) if port is None else port
        self.stopping = threading.Event()
        self.app: Application[UUID] | None = None
        if spec.application is not None:
            self.app = spec.application(store_for(spec.name, settings).env, settings)
        self._threads: list[threading.Thread] = []
        self._server: uvicorn.Server | None = None
        self._loop: ConsumerLoop | None = None
        self._signalled = False

    def run(self) -> int:
        self._on_signals()
        stored = self.app is not None
        self._start("consumer", self._run_consumer, stored and bool(self.spec.consumes))
        self._start("relay", self._run_relay, stored and self.spec.translate is not None)
        self._start("http", self._run_http, bool(self.port))
        for number, work in enumerate(self.spec.workers):
            if self.app is not None:
                self._start(
                    f"worker-{number}", functools.partial(work, self.app, self.stopping), True
                )
        for number, task in enumerate(self.spec.tasks):
            self._start(
                f"task-{number}", functools.partial(task, self.settings, self.stopping), True
            )
        log.info(
            "service started",
            service=self.spec.name,
            port=self.port,
            consumes=list(self.spec.consumes),
        )
        while not self.stopping.wait(_TICK_S):
            if self._signalled:
                self.stop()
            elif not all(thread.is_alive() for thread in self._threads):
                log.error("a worker thread died; stopping", service=self.spec.name)
                self.stop()
                self._drain()
                return 1
        self._drain()
        return 0

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.should_exit = True

    def _drain(self) -> None:
        for thread in self._threads:
            thread.join(timeout=DRAIN_DEADLINE_S)
        log.info("service stopped", service=self.spec.name)

    def _start(self, name: str, target: Callable[[], None], wanted: bool) -> None:
        if wanted:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run_consumer(self) -> None:
        assert self.app is not None
        bootstrap = self.settings.kafka_bootstrap
        self._loop = ConsumerLoop.build(
            self.app,
            self.spec.handlers,
            new_consumer(bootstrap, self.spec.consumer_group),
            new_producer(bootstrap),
            self.spec.consumes,
            self.spec.consumer_group,
            self.stopping,
            rescue=self.spec.rescue,
            finds=self.spec.finds,
            linger_s=self.settings.consumer_linger_ms / 1000,
        )
        self._loop.run()

    def _run_relay(self) -> None:
        assert self.app is not None
        assert self.spec.translate is not None
        extra: dict[str, Any] = {"topic_for": self.spec.topic_for} if self.spec.topic_for else {}
        relay = Relay(
            self.app,
            self.spec.translate,
            new_producer(self.settings.kafka_bootstrap),
            name=f"{self.spec.name}-kafka",
            renew=lambda: new_producer(self.settings.kafka_bootstrap),
            topics_are_new=self._topics_are_new if self.spec.publishes_to else None,
            **extra,
        )
        relay.run(self.stopping, lease=lease_for(self.app, relay.name))

    def _topics_are_new(self) -> bool:
        return never_written(self.settings.kafka_bootstrap, self.spec.publishes_to)

    def _run_http(self) -> None:
        config = uvicorn.Config(
            self.http_app(),
            host=self.settings.host,
            port=self.port or 0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._server.run()

    def http_app(self) -> FastAPI:
        api = harden(FastAPI(title=f"orderflow {self.spec.name}", version="0.1.0"))
        api.include_router(health_routes(self._checks(), self._fresh_checks()))
        if self.spec.routes is not None:
            api.include_router(self.spec.routes(self.app, self.settings))
        return api

    def _checks(self) -> dict[str, Callable[[], None]]:
        checks: dict[str, Callable[[], None]] = {"broker": self._check_broker}
        if self.app is not None:
            checks["store"] = self._check_store
        if self.spec.checks is not None:
            checks.update(self.spec.checks(self.settings))
        return checks

    def _fresh_checks(self) -> dict[str, Callable[[], None]]:
        """Checks cheap enough to ask at every probe."""
        consumes = self.app is not None and bool(self.spec.consumes)
        return {"consumer": self._check_consumer} if consumes else {}

    def _check_consumer(self) -> None:
        """Ready once the consumer group has given this member its share of the partitions:
        until then (a few seconds after start) events would wait, and an order placed then
        with them."""
        if self._loop is None or not self._loop.joined.is_set():
            raise RuntimeError("the consumer has not joined its group yet")

    def _check_store(self) -> None:
        assert self.app is not None
        self.app.recorder.max_notification_id()

    def _check_broker(self) -> None:
        with admin_client(self.settings.kafka_bootstrap) as admin:
            admin.list_topics(timeout=2)

    def _on_signals(self) -> None:
        """SIGTERM and Ctrl-C only note that a stop was asked; the main loop, awake every
        _TICK_S, stops the service. A handler runs on the main thread between any two
        bytecodes, so it may run while that thread holds `stopping`'s lock (waiting on it, or
        in the handler of an earlier signal), and setting the event there would wait for that
        lock for ever: a burst of signals left services running after their `up` was gone."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signalled = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
