"""Every Prometheus metric of Tollgate, declared once here with a one-line meaning.

Other parts import the objects they update; label sets stay small and bounded (route
templates, never raw paths or ids). Served as text by `GET /metrics`.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

# --- HTTP (all processes; recorded by tollgate.middleware) -------------------------------
HTTP_REQUESTS = Counter(
    "tollgate_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tollgate_http_request_duration_seconds",
    "Time from request start to the last response byte, by method and route template.",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
HTTP_BODY_REJECTED = Counter(
    "tollgate_http_body_rejected_total",
    "Requests refused because the body exceeded TOLLGATE max_body_bytes.",
)

# --- Process ------------------------------------------------------------------------------
READY = Gauge(
    "tollgate_ready",
    "1 once the process finished start-up (migrations, components) and serves, else 0.",
)
COMPONENT_START_SECONDS = Gauge(
    "tollgate_component_start_seconds",
    "Seconds each runtime component took to start.",
    ["component"],
)


def render() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

# --- Event publishing: Kafka publisher, durable spool, in-process bus (producers.publisher) ---
PUBLISHER_EMITTED = Counter(
    "tollgate_publisher_emitted_total",
    "Events handed to a publisher's emit() (Kafka publisher or in-process bus), by topic.",
    ["topic"],
)
PUBLISHER_SENT = Counter(
    "tollgate_publisher_sent_total",
    "Events acknowledged by Kafka (acks=all), sent directly or replayed from the spool, by topic.",
    ["topic"],
)
PUBLISHER_DROPPED = Counter(
    "tollgate_publisher_dropped_total",
    "Events lost before reaching Kafka/the bus log: queue_full, spool_full, stopped, encode_error.",
    ["reason"],
)
PUBLISHER_QUEUE_DEPTH = Gauge(
    "tollgate_publisher_queue_depth",
    "Events waiting in a publisher's in-memory queue (not yet sent or spooled).",
)
PUBLISHER_SPOOLING = Gauge(
    "tollgate_publisher_spooling",
    "1 while the Kafka publisher routes events through the spool (broker down/slow or backlog).",
)
SPOOL_BYTES = Gauge(
    "tollgate_spool_bytes",
    "Bytes held in a durable spool's segment files, by spool name.",
    ["spool"],
)
SPOOL_PENDING = Gauge(
    "tollgate_spool_pending_records",
    "Records in a spool not yet committed by its slowest reader, by spool name.",
    ["spool"],
)
SPOOL_APPENDED = Counter(
    "tollgate_spool_appended_total",
    "Records written to a durable spool, by spool name.",
    ["spool"],
)
SPOOL_DROPPED = Counter(
    "tollgate_spool_dropped_total",
    "Records refused because the spool reached spool_max_bytes (events lost), by spool name.",
    ["spool"],
)
SPOOL_CORRUPT_BYTES = Counter(
    "tollgate_spool_corrupt_total",
    "Torn/corrupt spool data cut or skipped (bytes at open, records while reading), by spool name.",
    ["spool"],
)
BUS_DELIVERED = Counter(
    "tollgate_bus_delivered_total",
    "Records handled successfully by in-process bus subscribers, by topic and subscriber.",
    ["topic", "subscriber"],
)
BUS_HANDLER_ERRORS = Counter(
    "tollgate_bus_handler_errors_total",
    "In-process bus handler failures (the batch is retried with backoff), by topic and subscriber.",
    ["topic", "subscriber"],
)
BUS_LAG = Gauge(
    "tollgate_bus_lag_records",
    "Records in the in-process bus log not yet handled by a subscriber, by topic and subscriber.",
    ["topic", "subscriber"],
)
BUS_UNROUTED = Counter(
    "tollgate_bus_unrouted_total",
    "Events emitted on the in-process bus to a topic nobody subscribed to (not stored).",
    ["topic"],
)
