"""JSON logs, one object a line, carrying the ids bound while an event is handled."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor


def configure(level: str = "INFO", service: str | None = None) -> None:
    def add_service(_: object, __: str, entry: EventDict) -> EventDict:
        if service:
            entry.setdefault("service", service)  # every thread's lines, not just main's
        return entry

    stamping: list[Processor] = [
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    _send_standard_logging_as_json(level, stamping)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *stamping,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # One write per line, newline included: print() writes the newline apart, so another
        # thread's line (uvicorn's, through logging) could land between a line and its end.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _send_standard_logging_as_json(level: str, stamping: list[Processor]) -> None:
    """Libraries that log through `logging` (uvicorn) write the same JSON lines as ours."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # with the ids bound on this thread too, for a library's line inside a handler
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
                *stamping,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
