"""Starting and stopping servers under test as real processes on loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def wait_healthy(base: str, seconds: float = 120.0) -> None:
    """Until ``/health`` answers 200 (``serve``'s API processes start after the parent
    has bound the port, so a connection may be accepted before anyone answers it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base}/health did not answer in {seconds:.0f} s")
        time.sleep(0.2)


@contextmanager
def process(args: Sequence[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``args`` until the block ends; yields the process id."""
    proc = subprocess.Popen(
        list(args),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, proc)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def reference_server(workers: int = 1) -> Iterator[str]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.reference_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    with process(args, port):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str
    secret: str
    numbers: list[str]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.token, self.secret)


def create_user(db: str, numbers: Sequence[str]) -> Account:
    # Only serve and migrate create a store; users create refuses a missing one.
    migrate = [sys.executable, "-m", "trebuchet.cli", "migrate", "--db", db]
    subprocess.run(migrate, cwd=ROOT, check=True, capture_output=True, text=True)
    args = [sys.executable, "-m", "trebuchet.cli", "users", "create", "--db", db, "--json"]
    for number in numbers:
        args += ["--number", number]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    return Account(data["userId"], data["apiToken"], data["apiSecret"], data["numbers"])


@contextmanager
def trebuchet_server(db: str, **settings: str) -> Iterator[tuple[str, int]]:
    """``trebuchet serve`` on ``db``; extra settings go in as ``TREBUCHET_*`` variables."""
    port = free_port()
    env = {"TREBUCHET_DEMO_USER": "false", "TREBUCHET_ACCESS_LOG": "false"}
    if db.startswith("sqlite:///"):  # keep media next to the database, out of the tree
        env["TREBUCHET_MEDIA_DIR"] = str(Path(db.removeprefix("sqlite:///")).parent / "media")
    else:
        env["TREBUCHET_MEDIA_DIR"] = tempfile.mkdtemp(prefix="trebuchet-bench-media-")
    env |= {f"TREBUCHET_{key.upper()}": value for key, value in settings.items()}
    args = [sys.executable, "-m", "trebuchet.cli", "serve", "--db", db, "--port", str(port)]
    with process(args, port, env) as pid:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        yield base, pid
