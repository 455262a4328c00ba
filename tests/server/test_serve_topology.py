"""``trebuchet serve`` as a supervisor of API and delivery processes, as real processes.

Each test starts the real command on a real socket and database, with a loopback HTTP
receiver for callbacks; waits are bounded, and nothing is timed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.server.test_cli import _alive, _answers, _free_port
from trebuchet.cli.main import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table"),
]

FROM = "+15550100001"
TO = "+15550109999"  # nobody's number: a phone outside
STARTED = re.compile(r"started (api|worker) process (\S+) \(pid (\d+)\)")
START_SECONDS = 90.0  # spawning three interpreters on a busy two-core machine
SETTLE_SECONDS = 90.0


class Receiver:
    """A loopback HTTP server noting the message id of every ``sent`` callback."""

    def __init__(self) -> None:
        self.sent: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for event in body if isinstance(body, list) else [body]:
                    if event.get("state") == "sent":
                        with receiver._lock:
                            receiver.sent.add(event["messageId"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def seen(self) -> set[str]:
        with self._lock:
            return set(self.sent)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


class Served:
    """``trebuchet serve`` with its log, and the children its log names."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, port: int):
        self.process = process
        self.log = log
        self.base = f"http://127.0.0.1:{port}"

    def children(self) -> dict[str, int]:
        """The pid now in each slot (api-0, api-1, worker-0), from the supervisor's log."""
        slots: dict[str, int] = {}
        for _kind, name, pid in STARTED.findall(self.log.read_text(errors="replace")):
            slots[name] = int(pid)
        return slots

    def wait_ready(self, slots: int) -> dict[str, int]:
        deadline = time.monotonic() + START_SECONDS
        while True:
            children = self.children()
            live = [pid for pid in children.values() if _alive(pid)]
            if len(live) == slots and _answers(f"{self.base}/health"):
                return children
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)


@contextmanager
def serving(
    db: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Served]:
    port = _free_port()
    log = tmp_path / "serve.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TREBUCHET_")},
        "TREBUCHET_DB": db,
        "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "true",
        "TREBUCHET_MEDIA_DIR": str(tmp_path / "media"),
        "TREBUCHET_DRAIN_SECONDS": "5",
        "TREBUCHET_ACCESS_LOG": "false",
        **(env or {}),
    }
    command = [sys.executable, "-m", "trebuchet.cli", "serve", "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, log, port)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pid in served.children().values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _user(db: str) -> dict[str, Any]:
    assert CliRunner().invoke(main, ["migrate", "--db", db]).exit_code == 0
    created = CliRunner().invoke(main, ["users", "create", "--db", db, "--json", "--number", FROM])
    assert created.exit_code == 0, created.output
    return dict(json.loads(created.output))


def _send(base: str, user: dict[str, Any], callback: str, text: str) -> str:
    """One message, its Idempotency-Key kept across retries of transport errors and 5xx
    (a request may meet an API process that is being killed); answers its id."""
    key = uuid.uuid4().hex
    body = {"from": FROM, "to": TO, "text": text, "callbackUrl": callback}
    deadline = time.monotonic() + 30
    while True:
        try:
            with httpx.Client(auth=(user["apiToken"], user["apiSecret"]), timeout=10) as http:
                sent = http.post(
                    f"{base}/v1/users/{user['userId']}/messages",
                    json=body,
                    headers={"Idempotency-Key": key},
                )
            if sent.status_code < 500:
                assert sent.status_code == 201, sent.text
                return str(sent.headers["location"].rsplit("/", 1)[1])
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"message {text} was never accepted"
        time.sleep(0.1)


def _states(base: str, user: dict[str, Any], ids: list[str]) -> dict[str, str]:
    with httpx.Client(auth=(user["apiToken"], user["apiSecret"]), timeout=10) as http:
        path = f"{base}/v1/users/{user['userId']}/messages"
        return {mid: http.get(f"{path}/{mid}").json()["state"] for mid in ids}


def _wait_delivered(served: Served, user: dict[str, Any], ids: list[str], rx: Receiver) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        states = _states(served.base, user, ids)
        if set(states.values()) == {"sent"} and set(ids) <= rx.seen():
            return
        if time.monotonic() > deadline:
            missing = sorted(set(ids) - rx.seen())
            pytest.fail(f"not delivered: states {states}, no callback for {missing}")
        time.sleep(0.3)


def _stop(served: Served, children: list[int]) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(60) == 0, served.log.read_text()[-3000:]
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "children outlived serve"


def test_api_and_delivery_processes_survive_a_killed_api_process(
    store_url: str, tmp_path: Path
) -> None:
    """Two API processes and one delivery process: sends are accepted, sent through the
    sandbox and called back; an API process killed with SIGKILL is started again while
    service goes on; SIGTERM stops everything with exit 0; every accepted message lands."""
    user = _user(store_url)
    args = ("--api-processes", "2", "--worker-processes", "1")
    with receiving() as rx, serving(store_url, tmp_path, *args) as served:
        children = served.wait_ready(3)
        assert set(children) == {"api-0", "api-1", "worker-0"}
        ids = [_send(served.base, user, rx.url, f"before {i}") for i in range(15)]
        _wait_delivered(served, user, ids, rx)

        victim = children["api-0"]
        os.kill(victim, signal.SIGKILL)
        ids += [_send(served.base, user, rx.url, f"during {i}") for i in range(15)]
        restarted = served.wait_ready(3)
        assert restarted["api-0"] != victim
        assert restarted["api-1"] == children["api-1"]
        assert "api-0 exited with signal SIGKILL" in served.log.read_text()
        ids += [_send(served.base, user, rx.url, f"after {i}") for i in range(15)]
        _wait_delivered(served, user, ids, rx)
        _stop(served, [*restarted.values(), victim])
    assert len(set(ids)) == 45


def test_single_process_is_an_explicit_choice(sqlite_url: str, tmp_path: Path) -> None:
    """``--api-processes 1 --worker-processes 0``: one process delivers and calls back."""
    user = _user(sqlite_url)
    args = ("--api-processes", "1", "--worker-processes", "0")
    with receiving() as rx, serving(sqlite_url, tmp_path, *args) as served:
        served.wait_ready(0)  # one process: no children, /health answers
        assert served.children() == {}
        ids = [_send(served.base, user, rx.url, f"one {i}") for i in range(5)]
        _wait_delivered(served, user, ids, rx)
        _stop(served, [])


def test_children_that_keep_crashing_at_start_stop_the_server(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A delivery process that cannot start (its carrier is unknown) is retried with
    backoff, then the supervisor gives up, stops the rest and exits non-zero."""
    _user(sqlite_url)
    args = ("--api-processes", "1", "--worker-processes", "1")
    crashing = {"TREBUCHET_CARRIER": "nowhere"}
    with serving(sqlite_url, tmp_path, *args, env=crashing) as served:
        try:
            code = served.process.wait(240)
        except subprocess.TimeoutExpired:
            pytest.fail(served.log.read_text()[-3000:])
        text = served.log.read_text()
        assert code == 1, text[-3000:]
        assert "starting it again" in text
        assert "times in a row" in text


def test_children_stop_when_the_supervisor_is_killed(sqlite_url: str, tmp_path: Path) -> None:
    """SIGKILL leaves the supervisor no chance to stop anyone: its children notice their
    parent is gone and stop by themselves."""
    _user(sqlite_url)
    args = ("--api-processes", "1", "--worker-processes", "1")
    with serving(sqlite_url, tmp_path, *args) as served:
        children = served.wait_ready(2)
        served.process.kill()
        served.process.wait(10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children.values() if _alive(pid)], "orphans kept running"
