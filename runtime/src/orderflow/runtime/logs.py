"""JSON logs, one object a line, carrying the ids bound while an event is handled."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict


def configure(level: str = "INFO", service: str | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")

    def add_service(_: object, __: str, entry: EventDict) -> EventDict:
        if service:
            entry.setdefault("service", service)  # every thread's lines, not just main's
        return entry

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_service,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
