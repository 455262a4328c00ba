"""Prometheus metrics, and the hooks the rest of the server reports through.

Every metric lives in :data:`REGISTRY` (served at ``/metrics``).  Code outside the API
calls the small functions below rather than touching prometheus objects::

    from trebuchet.server import metrics

    metrics.message_sent()
    metrics.message_failed()
    metrics.callback_attempt("ok")      # or "failed"
    metrics.set_queue_depth(42)
    metrics.carrier_send("smsc", "accepted")

One process (``serve`` alone, the test app, ``trebuchet worker``) serves its own values,
with the ``process_*`` metrics (CPU, memory, open files) of that process; a worker, having
no API, on a port of its own (:func:`serve_http`, ``worker_metrics_port``).

``serve`` with several processes sets ``PROMETHEUS_MULTIPROC_DIR`` (a private folder per
run) before its children start, so prometheus_client keeps every value in files there and
any API process answers with the sum over all of them, the delivery processes' included
(prometheus_client's multiprocess mode).  Counters of a process that exited stay in the
sum; gauges say below how processes combine.  The ``process_*`` metrics describe one
process and do not add up, so they are left out in that mode.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Read when prometheus_client is first imported, as prometheus_client itself does.
MULTIPROCESS_DIR = os.environ.get(MULTIPROCESS_ENV) or None

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
# Every process reads the same store, so the latest reading of a live process is the answer
# (the process answering a scrape reads it just before).
QUEUE_DEPTH = Gauge(
    "trebuchet_queue_depth",
    "Messages waiting to be sent, as last seen",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",
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
# Each delivery process keeps its own circuit per carrier; across processes the worst one
# shows (an open circuit anywhere is what an alert wants), and a process gone takes its
# circuit with it.
CARRIER_CIRCUIT = Gauge(
    "trebuchet_carrier_circuit_state",
    "Each carrier's circuit: 0 closed, 1 half-open, 2 open (the worst of the processes)",
    ["carrier"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
CARRIER_FAILURES = Gauge(
    "trebuchet_carrier_consecutive_failures",
    "Failures of each carrier in a row, the most of the processes (a success resets it)",
    ["carrier"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
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


def _exposed() -> CollectorRegistry:
    """This process's registry, or one summing every process's files in multiprocess mode."""
    if MULTIPROCESS_DIR is None:
        return REGISTRY
    combined = CollectorRegistry()
    MultiProcessCollector(combined, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return combined


def exposition() -> tuple[bytes, str]:
    """The text format body and its content type."""
    return generate_latest(_exposed()), CONTENT_TYPE_LATEST


def process_gone(pid: int, folder: str) -> None:
    """Drop the live gauges of a process that exited (its counters stay in the sum)."""
    mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


@dataclass
class MetricsServer:
    """An HTTP server answering the text format on a port of its own, in a thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_http(host: str, port: int) -> MetricsServer:
    """Serve the metrics at ``http://host:port/metrics`` until closed (``OSError`` when the
    port cannot be bound)."""
    server, thread = start_http_server(port, addr=host, registry=_exposed())
    return MetricsServer(server, thread)
