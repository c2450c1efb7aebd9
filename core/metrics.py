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


# --- Event publishing: the durable local event log, its Kafka shipper, the embedded bus (eventlog) ---
PUBLISHER_EMITTED = Counter(
    "tollgate_publisher_emitted_total",
    "Events appended to the local event log by emit()/publish(), by topic.",
    ["topic"],
)
PUBLISHER_SENT = Counter(
    "tollgate_publisher_sent_total",
    "Events from the local event log acknowledged by Kafka (acks=all), by topic.",
    ["topic"],
)
PUBLISHER_DROPPED = Counter(
    "tollgate_publisher_dropped_total",
    "Events not stored in the local event log: log_full, stopped, encode_error, write_error.",
    ["reason"],
)
EVENTLOG_BYTES = Gauge(
    "tollgate_eventlog_bytes",
    "Estimated key+value bytes held in the local event log (bounded by spool_max_bytes).",
)
EVENTLOG_FULL = Gauge(
    "tollgate_eventlog_full",
    "1 while the local event log is full: the gateway answers 503 until readers catch up.",
)
EVENTLOG_UNSHIPPED = Gauge(
    "tollgate_eventlog_unshipped_records",
    "Records in the local event log not yet acknowledged by Kafka, by topic.",
    ["topic"],
)
KAFKA_OUTAGE = Gauge(
    "tollgate_kafka_outage",
    "1 while the event-log shipper cannot reach Kafka (events wait in the local log).",
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
    "Events trimmed from the embedded bus log unread because nobody subscribed to their topic.",
    ["topic"],
)
