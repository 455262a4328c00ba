"""``/metrics`` of a real ``serve`` with several processes is one view of them all, and
``trebuchet worker`` answers ``/metrics`` on a port of its own.

Real processes on a real SQLite file, HTTP on loopback; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tests.server.test_cli import _alive, _answers, _free_port
from tests.server.test_serve_topology import (
    START_SECONDS,
    Receiver,
    Served,
    _send,
    _stop,
    _user,
    _wait_delivered,
    receiving,
    serving,
)
from trebuchet.cli.main import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table"),
]

ACCEPTED = "trebuchet_messages_accepted_total"
SENT = "trebuchet_messages_sent_total"
DEPTH = "trebuchet_queue_depth"
CPU = "process_cpu_seconds_total"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPES = 8
SCRAPE_SECONDS = 30.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """One scrape on a new connection (so the kernel may pick another API process)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def names(samples: Samples) -> set[str]:
    return {name for name, _labels in samples}


def wait_for(url: str, name: str, expected: float) -> Samples:
    """Scrapes until ``name`` (no labels) reaches ``expected``; counters may lag the
    message states they follow by a moment."""
    deadline = time.monotonic() + SCRAPE_SECONDS
    while True:
        samples = scrape(url)
        if samples.get((name, ())) == expected:
            return samples
        assert time.monotonic() < deadline, f"{name} is {samples.get((name, ()))}, not {expected}"
        time.sleep(0.2)


def assert_every_scrape(url: str, **expected: float) -> list[Samples]:
    seen = [scrape(url) for _ in range(SCRAPES)]
    for samples in seen:
        assert {name: samples.get((name, ())) for name in expected} == expected
    return seen


def multiproc_dir(pid: int) -> str | None:
    """The metrics folder in a running process's environment."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        key, _, value = entry.partition(b"=")
        if key.decode() == MULTIPROC_ENV:
            return value.decode()
    return None


def _send_many(served: Served, user: dict[str, Any], rx: Receiver, label: str, n: int) -> None:
    ids = [_send(served.base, user, rx.url, f"{label} {i}") for i in range(n)]
    _wait_delivered(served, user, ids, rx)


def test_every_api_process_answers_the_sum_of_all_processes(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Two API processes and one delivery process: whichever API process answers, the
    accepted count is every message and the sent count (the delivery process's) too; the
    per-process ``process_*`` metrics are left out; the folder goes with the server."""
    user = _user(sqlite_url)
    sent = 12
    args = ("--api-processes", "2", "--worker-processes", "1")
    with receiving() as rx, serving(sqlite_url, tmp_path, *args) as served:
        children = served.wait_ready(3)
        folders = {multiproc_dir(pid) for pid in children.values()}
        assert len(folders) == 1 and None not in folders
        folder = Path(str(folders.pop()))
        assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0

        _send_many(served, user, rx, "m", sent)
        url = f"{served.base}/metrics"
        wait_for(url, SENT, sent)
        for samples in assert_every_scrape(url, **{ACCEPTED: sent, SENT: sent, DEPTH: 0}):
            assert CPU not in names(samples)
            assert not [labels for name, labels in samples if "pid" in dict(labels)]
        _stop(served, list(children.values()))
    assert not folder.exists()


def test_counts_of_a_killed_process_stay(sqlite_url: str, tmp_path: Path) -> None:
    """An API process and the delivery process killed with SIGKILL are started again; what
    they counted stays in the sum (counters never go back), and new counts add to it."""
    user = _user(sqlite_url)
    first, then = 10, 5
    args = ("--api-processes", "2", "--worker-processes", "1")
    with receiving() as rx, serving(sqlite_url, tmp_path, *args) as served:
        children = served.wait_ready(3)
        folder = Path(str(multiproc_dir(children["api-1"])))
        _send_many(served, user, rx, "before", first)
        url = f"{served.base}/metrics"
        wait_for(url, SENT, first)

        for victim in ("api-0", "worker-0"):
            os.kill(children[victim], signal.SIGKILL)
        deadline = time.monotonic() + START_SECONDS
        while True:
            restarted = served.wait_ready(3)
            if all(restarted[v] != children[v] for v in ("api-0", "worker-0")):
                break
            assert time.monotonic() < deadline, served.log.read_text()[-3000:]
            time.sleep(0.2)
        assert_every_scrape(url, **{ACCEPTED: first, SENT: first})
        for victim in ("api-0", "worker-0"):  # counters kept, live gauges dropped
            pid = children[victim]
            assert (folder / f"counter_{pid}.db").exists()
            assert not list(folder.glob(f"gauge_live*_{pid}.db"))
        assert (folder / f"gauge_livemostrecent_{restarted['api-1']}.db").exists()

        _send_many(served, user, rx, "after", then)
        wait_for(url, SENT, first + then)
        assert_every_scrape(url, **{ACCEPTED: first + then, SENT: first + then, DEPTH: 0})
        _stop(served, [*restarted.values(), *children.values()])


def test_a_single_process_serves_its_own_metrics(sqlite_url: str, tmp_path: Path) -> None:
    """One process: no shared folder, and its ``process_*`` metrics are there as before."""
    user = _user(sqlite_url)
    args = ("--api-processes", "1", "--worker-processes", "0")
    with receiving() as rx, serving(sqlite_url, tmp_path, *args) as served:
        served.wait_ready(0)  # one process: no children, /health answers
        assert multiproc_dir(served.process.pid) is None
        _send_many(served, user, rx, "one", 3)
        samples = wait_for(f"{served.base}/metrics", SENT, 3)
        assert samples[(ACCEPTED, ())] == 3
        assert CPU in names(samples)
        _stop(served, [])


def test_worker_serves_its_metrics_on_its_own_port(sqlite_url: str, tmp_path: Path) -> None:
    """``serve`` without its engine accepts; a ``trebuchet worker --metrics-port`` beside
    it delivers, and answers ``/metrics`` with what it sent."""
    user = _user(sqlite_url)
    sent = 6
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TREBUCHET_")},
        "TREBUCHET_DB": sqlite_url,
        "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "true",
        "TREBUCHET_MEDIA_DIR": str(tmp_path / "media"),
        "TREBUCHET_POLL_INTERVAL": "0.1",
    }
    args = ("--api-processes", "1", "--worker-processes", "0")
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "trebuchet.cli", "worker", "--metrics-port", str(port)]
    no_engine = {"TREBUCHET_ENGINE": "false"}
    with (
        receiving() as rx,
        serving(sqlite_url, tmp_path, *args, env=no_engine) as served,
        log.open("wb") as out,
    ):
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + START_SECONDS
            while not (_answers(url) and _answers(f"{served.base}/health")):
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            _send_many(served, user, rx, "w", sent)
            samples = wait_for(url, SENT, sent)
            assert samples.get((ACCEPTED, ())) == 0  # the API process accepted them
            assert CPU in names(samples)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, log.read_text()[-3000:]
            assert not _answers(url)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        _stop(served, [])
    assert not _alive(worker.pid)


def test_worker_says_when_its_metrics_port_is_taken(sqlite_url: str) -> None:
    _user(sqlite_url)
    with socket_listening() as port:
        result = CliRunner().invoke(main, ["worker", "--db", sqlite_url, "--metrics-port", port])
    assert result.exit_code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output


@contextmanager
def socket_listening() -> Iterator[str]:
    """A loopback port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield str(sock.getsockname()[1])
