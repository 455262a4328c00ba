"""Prometheus metrics, and the hooks the rest of the server reports through.

Every metric lives in :data:`REGISTRY` (served at ``/metrics``).  Code outside the API
calls the small functions below rather than touching prometheus objects::

    from trebuchet.server import metrics

    metrics.message_sent()
    metrics.message_failed()
    metrics.callback_attempt("ok")      # or "failed"
    metrics.set_queue_depth(42)
    metrics.carrier_send("smsc", "accepted")

Counters are per process; scrape each API/worker process.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "trebuchet_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "trebuchet_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
MESSAGES_ACCEPTED = Counter(
    "trebuchet_messages_accepted",
    "Messages accepted by POST /messages (each element of a bulk request counts)",
    registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "trebuchet_messages_sent", "Messages handed to a carrier successfully", registry=REGISTRY
)
MESSAGES_FAILED = Counter(
    "trebuchet_messages_failed", "Messages that ended in the error state", registry=REGISTRY
)
CALLBACK_ATTEMPTS = Counter(
    "trebuchet_callback_attempts",
    "Callback deliveries tried, by outcome (ok, failed)",
    ["outcome"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "trebuchet_queue_depth", "Messages waiting to be sent, as last seen", registry=REGISTRY
)
THROTTLED = Counter(
    "trebuchet_throttled_requests",
    "Requests answered 429, by reason (rate = per-user limit, auth = failed-auth throttle)",
    ["reason"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "trebuchet_auth_failures", "Requests with missing or wrong credentials", registry=REGISTRY
)
LIMITER_ERRORS = Counter(
    "trebuchet_limiter_backend_errors",
    "Limiter calls the shared backend did not answer (let through or refused, by mode)",
    registry=REGISTRY,
)

CARRIER_SENDS = Counter(
    "trebuchet_carrier_sends",
    "Sends tried per carrier behind a router, by outcome (accepted, transient, unanswered,"
    " timeout, permanent, error, skipped = circuit open)",
    ["carrier", "outcome"],
    registry=REGISTRY,
)
CARRIER_FAILOVERS = Counter(
    "trebuchet_carrier_failovers",
    "Messages passed on from this carrier to the next one of their route",
    ["carrier"],
    registry=REGISTRY,
)
CARRIER_CIRCUIT = Gauge(
    "trebuchet_carrier_circuit_state",
    "Each carrier's circuit in this process: 0 closed, 1 half-open, 2 open",
    ["carrier"],
    registry=REGISTRY,
)
CARRIER_FAILURES = Gauge(
    "trebuchet_carrier_consecutive_failures",
    "Failures of each carrier in a row, in this process (a success resets it)",
    ["carrier"],
    registry=REGISTRY,
)

# Children bound once: ``labels()`` takes a lock and hashes on every call.
_requests: dict[tuple[str, str, int], Counter] = {}
_latency: dict[tuple[str, str], Histogram] = {}
_THROTTLED_RATE = THROTTLED.labels("rate")
_THROTTLED_AUTH = THROTTLED.labels("auth")


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    counter = _requests.get(key)
    if counter is None:
        counter = _requests[key] = HTTP_REQUESTS.labels(route, method, str(status))
    counter.inc()
    timer = _latency.get(key[:2])
    if timer is None:
        timer = _latency[key[:2]] = HTTP_LATENCY.labels(route, method)
    timer.observe(seconds)


def messages_accepted(count: int = 1) -> None:
    MESSAGES_ACCEPTED.inc(count)


def message_sent(count: int = 1) -> None:
    MESSAGES_SENT.inc(count)


def message_failed(count: int = 1) -> None:
    MESSAGES_FAILED.inc(count)


def callback_attempt(outcome: str) -> None:
    CALLBACK_ATTEMPTS.labels(outcome).inc()


def set_queue_depth(depth: int) -> None:
    QUEUE_DEPTH.set(depth)


def throttled(reason: str) -> None:
    (_THROTTLED_RATE if reason == "rate" else _THROTTLED_AUTH).inc()


def auth_failed() -> None:
    AUTH_FAILURES.inc()


_carrier_sends: dict[tuple[str, str], Counter] = {}


def carrier_send(carrier: str, outcome: str) -> None:
    counter = _carrier_sends.get((carrier, outcome))
    if counter is None:
        counter = _carrier_sends[(carrier, outcome)] = CARRIER_SENDS.labels(carrier, outcome)
    counter.inc()


def carrier_failover(carrier: str) -> None:
    CARRIER_FAILOVERS.labels(carrier).inc()


def carrier_health(carrier: str, circuit: int, failures: int) -> None:
    CARRIER_CIRCUIT.labels(carrier).set(circuit)
    CARRIER_FAILURES.labels(carrier).set(failures)


def exposition() -> tuple[bytes, str]:
    """The text format body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
