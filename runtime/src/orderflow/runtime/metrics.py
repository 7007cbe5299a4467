"""Prometheus metrics every service process exposes on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("orderflow_events_consumed", "Messages taken from Kafka and applied.", ["topic"])
SKIPPED = Counter(
    "orderflow_events_skipped_duplicate",
    "Events recognised by their inbox row and not applied again.",
    ["topic"],
)
DEAD_LETTERED = Counter(
    "orderflow_events_dead_lettered", "Messages sent to the dead-letter topic.", ["topic", "reason"]
)
PRODUCED = Counter("orderflow_events_produced", "Events the relay published.", ["topic"])
HANDLER_SECONDS = Histogram(
    "orderflow_handler_seconds",
    "Time a handler took for one event.",
    ["event_type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
BATCH_SECONDS = Histogram(
    "orderflow_batch_seconds", "Time to apply and commit one consumer batch.", ["group"]
)
RELAY_LAG = Gauge(
    "orderflow_relay_lag", "Events in the store not yet published by the relay.", ["relay"]
)
RELAY_LEADING = Gauge(
    "orderflow_relay_leading",
    "1 while this instance holds the lease of a follower of its service's store (its relay,"
    " billing's refunds, inventory's expiry), 0 while another instance does.",
    ["relay"],
)
#: Per consumer group: one process may hold several groups on the same topics (the tracking and
#: analytics workers). Only the partitions the group gives this process now: a partition that
#: moved to another member, or a loop that stopped, takes its series away rather than leave its
#: last value standing.
CONSUMER_LAG = Gauge(
    "orderflow_consumer_lag",
    "Messages in a partition not yet consumed by this process's member of the group.",
    ["group", "topic", "partition"],
)
RETRIES = Counter(
    "orderflow_transient_retries", "Batches retried after a transient failure.", ["stage"]
)
#: What /readyz answers, as a gauge, so that Prometheus sees a broker or store that stopped
#: answering (a process that retries stays up and scrapeable): 1 answers, 0 does not.
READY = Gauge("orderflow_ready", "Whether a readiness check passes (1) or fails (0).", ["check"])
