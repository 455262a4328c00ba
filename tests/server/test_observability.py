"""Readiness, metrics, request ids and the logging policy (no secrets, no message text)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tests.conftest import Harness
from trebuchet.server.logs import JsonFormatter, RequestIdFilter, configure_logging
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

Build = Callable[..., Awaitable[Harness]]
MESSAGES_ROUTE = "/v1/users/{user_id}/messages"


async def test_health_and_ready(harness: Harness) -> None:
    http = harness.http()
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_ready_is_503_when_the_store_does_not_answer(tuned_app: Build) -> None:
    h = await tuned_app(ready_timeout_seconds=1.0)
    services = h.app.state.services
    dead = Store("postgresql://trebuchet@127.0.0.1:1/nowhere")
    services.store = dead
    try:
        response = await h.http().get("/ready")
    finally:
        services.store = h.store
        await dead.close()
    assert response.status_code == 503
    assert response.json()["category"] == "unavailable"
    assert response.headers["content-type"] == "application/json"


def _sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text format (0 when absent)."""
    for line in body.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_latency_and_accepted_messages(harness: Harness) -> None:
    alice = await harness.create_user(["+15550001111"])
    http = harness.http(alice)
    before = (await http.get("/metrics")).text
    path = harness.messages_path(alice)
    no_text = {"from": alice.numbers[0], "to": "+15550002222"}
    assert (await http.post(path, json=no_text)).status_code == 400
    bulk = [{"from": alice.numbers[0], "to": "+15550003333", "text": "x"}] * 3
    assert (await http.post(path, json=bulk)).status_code == 202
    assert (await http.get(path)).status_code == 200
    assert (await http.get("/no/such/page")).status_code == 404
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert grew("trebuchet_messages_accepted_total") == 3
    requests = "trebuchet_http_requests_total"
    assert grew(requests, route=MESSAGES_ROUTE, method="POST", status="400") == 1
    assert grew(requests, route=MESSAGES_ROUTE, method="POST", status="202") == 1
    assert grew(requests, route=MESSAGES_ROUTE, method="GET", status="200") == 1
    assert grew(requests, route="unmatched", method="GET", status="404") == 1
    latency = "trebuchet_http_request_duration_seconds_count"
    assert grew(latency, route=MESSAGES_ROUTE, method="GET") == 1
    for name in (
        "trebuchet_messages_sent_total",
        "trebuchet_messages_failed_total",
        "trebuchet_queue_depth",
        "trebuchet_throttled_requests_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in after


async def test_engine_hooks_show_up(harness: Harness) -> None:
    from trebuchet.server import metrics

    before = (await harness.http().get("/metrics")).text
    metrics.message_sent(2)
    metrics.message_failed()
    metrics.callback_attempt("ok")
    metrics.set_queue_depth(7)
    after = (await harness.http().get("/metrics")).text
    sent = "trebuchet_messages_sent_total"
    assert _sample(after, sent) - _sample(before, sent) == 2
    # the depth is read from the store at each scrape, not left as last set
    assert _sample(after, "trebuchet_queue_depth") == 0
    attempts = "trebuchet_callback_attempts_total"
    assert _sample(after, attempts, outcome="ok") - _sample(before, attempts, outcome="ok") == 1


async def test_metrics_can_be_switched_off(tuned_app: Build) -> None:
    h = await tuned_app(metrics_enabled=False)
    response = await h.http().get("/metrics")
    assert response.status_code == 404 and response.json()["message"]


async def test_every_response_carries_a_request_id(harness: Harness) -> None:
    http = harness.http()
    made = (await http.get("/health")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    echoed = await http.get("/health", headers={"X-Request-Id": "lb-1234.abc:9"})
    assert echoed.headers["x-request-id"] == "lb-1234.abc:9"
    for hostile in ("a" * 129, "bad id", "x\u00e9", "x\u00e9y"):
        raw = hostile.encode("latin-1")
        replaced = await http.get("/health", headers={"X-Request-Id": raw})
        assert re.fullmatch(r"[0-9a-f]{16}", replaced.headers["x-request-id"])


async def test_access_log_names_the_route_and_request_not_the_data(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await harness.create_user(["+15550001111"])
    caplog.set_level(logging.INFO, logger="trebuchet.access")
    response = await harness.http(alice).get(
        harness.messages_path(alice), params={"from": "+15550001111"}
    )
    records = [r for r in caplog.records if r.name == "trebuchet.access"]
    assert len(records) == 1
    record = records[0]
    assert record.http == {  # type: ignore[attr-defined]
        "method": "GET",
        "route": MESSAGES_ROUTE,
        "status": 200,
        "duration_ms": record.http["duration_ms"],  # type: ignore[attr-defined]
        "user_id": alice.user_id,
    }
    record.request_id = None
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "trebuchet.access" and line["level"] == "INFO"
    assert line["http"]["route"] == MESSAGES_ROUTE
    assert "+15550001111" not in json.dumps(line)
    assert response.headers["x-request-id"]


def test_json_formatter_keeps_extras_and_exceptions() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("trebuchet.x", logging.ERROR, "f", 1, "a %s", ("b",), None)
        import sys

        record.exc_info = sys.exc_info()
    record.job = {"id": 1}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "a b" and line["job"] == {"id": 1}
    assert "RuntimeError: boom" in line["exception"]
    assert line["time"].endswith("Z")


def test_configure_logging_installs_one_handler() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        handler = configure_logging("json", "warning")
        assert root.handlers == [handler] and root.level == logging.WARNING
        assert isinstance(handler.formatter, JsonFormatter)
        with pytest.raises(ValueError, match="log_format"):
            configure_logging("xml")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


async def test_logs_hold_no_credentials_and_no_message_text(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything the server logs at the default level, across successes, auth failures
    and an unhandled database error, is free of secrets and message text."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="trebuchet")
    caplog.handler.addFilter(RequestIdFilter())  # as configure_logging's handler does
    alice = await harness.create_user(["+15550001111"])
    http = harness.http(alice)
    path = harness.messages_path(alice)
    text_marker = "Meet me at the old mill, code TOPSECRET-TEXT"
    wrong_secret = "WRONG-SECRET-GUESS-456"
    sent = {"from": alice.numbers[0], "to": "+15550002222", "text": text_marker}
    assert (await http.post(path, json=sent, headers={"Idempotency-Key": "k-1"})).is_success
    await harness.http().get(path, auth=(alice.api_token, wrong_secret))
    await harness.http().get(
        path, headers={"Authorization": b"Basic " + "\u00e9".encode("latin-1") * 10}
    )
    async with harness.store.write() as conn:
        await conn.execute(text("DROP TABLE messages"))
    transport = httpx.ASGITransport(app=harness.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=alice.auth
    ) as raw_http:
        broken = await raw_http.post(path, json=sent)
    assert broken.status_code == 500
    assert broken.json()["code"] == "internal-error"
    assert broken.headers["x-request-id"]
    errors = [r for r in caplog.records if r.exc_info]
    assert errors, "the unhandled error was logged"
    assert any(getattr(r, "request_id", None) == broken.headers["x-request-id"] for r in errors)
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    basic = base64.b64encode(f"{alice.api_token}:{alice.api_secret}".encode()).decode()
    for forbidden in (alice.api_secret, wrong_secret, basic, "TOPSECRET", "old mill"):
        assert forbidden not in logged, forbidden


async def test_the_store_never_holds_an_api_secret(store_url: str, harness: Harness) -> None:
    alice = await harness.create_user(["+15550001111"])
    assert (await harness.http(alice).get(harness.messages_path(alice))).status_code == 200
    dumped = []
    async with harness.store.read() as conn:
        for table in t.metadata.sorted_tables:
            try:
                rows = (await conn.execute(select(table))).all()
            except Exception:  # a table of a migration this database does not have
                continue
            dumped.extend(str(tuple(row)) for row in rows)
    everything = "\n".join(dumped)
    assert alice.api_token in everything  # the dump did see the user row
    assert alice.api_secret not in everything
    if store_url.startswith("sqlite:///"):
        db_file = Path(store_url.removeprefix("sqlite:///"))
        for part in db_file.parent.glob(db_file.name + "*"):
            assert alice.api_secret.encode() not in part.read_bytes(), part
