"""The Catapult-era clients, run for real against the real server on a loopback socket.

Each old client lives in its own environment, apart from the project's (see
docs/compatibility.md): the Python ``bandwidth-sdk`` 3.x in ``.venv-compat``, the Node
``node-bandwidth`` in ``tests/compat/node/node_modules``.  A small driver script per client
(``python/drive.py``, ``node/drive.js``) is run as a subprocess with the server's URL and a
user's credentials; it prints JSON that the tests check, next to what the store holds.
A client whose environment is absent is skipped with the command that installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Credentials, LiveServer, make_settings, running_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ADMIN_TOKEN = "compat-admin-token"

PYTHON_INSTALL = (
    "python3 -m venv .venv-compat && "
    ".venv-compat/bin/pip install -r tests/compat/python/requirements.txt"
)
NODE_INSTALL = "npm ci --prefix tests/compat/node"
PYTHON_PROBE = "import bandwidth.messaging, bandwidth.version as v; print(v.__version__)"


@dataclass(frozen=True)
class OldClient:
    """One old client: how to run its driver, and whether it turns keys to snake_case."""

    name: str
    command: tuple[str, ...]
    snake_case: bool

    def run(
        self,
        live: LiveServer,
        creds: Credentials,
        scenario: str,
        args: dict[str, Any] | None = None,
    ) -> Any:
        """Run one driver scenario against ``live`` as ``creds``; its printed JSON."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "TREBUCHET_URL": live.base_url,
            "TREBUCHET_USER_ID": creds.user_id,
            "TREBUCHET_TOKEN": creds.api_token,
            "TREBUCHET_SECRET": creds.api_secret,
            "NO_PROXY": "*",
        }
        done = subprocess.run(
            [*self.command, scenario],
            input=json.dumps(args or {}),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{self.name} driver failed ({scenario}):\n{done.stderr}"
        return json.loads(done.stdout)

    def key(self, name: str) -> str:
        """A message property's name as this client hands it to the application."""
        if not self.snake_case:
            return name
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def compat_python() -> Path:
    override = os.environ.get("TREBUCHET_COMPAT_PYTHON")
    return Path(override) if override else ROOT / ".venv-compat" / "bin" / "python"


@cache
def python_client_missing() -> str | None:
    python = compat_python()
    if not python.exists():
        return f"old Python client not installed: run `{PYTHON_INSTALL}` (no {python})"
    probe = subprocess.run(
        [str(python), "-c", PYTHON_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0 or not probe.stdout.lstrip("v").startswith("3."):
        detail = (probe.stderr.strip().splitlines() or [probe.stdout.strip()])[-1]
        return f"old Python client not installed: run `{PYTHON_INSTALL}` ({detail})"
    return None


@cache
def node_client_missing() -> str | None:
    if shutil.which("node") is None:
        return f"old Node client not installed: no `node` on PATH (then run `{NODE_INSTALL}`)"
    if not (HERE / "node" / "node_modules" / "node-bandwidth" / "package.json").exists():
        return f"old Node client not installed: run `{NODE_INSTALL}`"
    return None


@pytest.fixture(params=["python", "node"])
def old_client(request: pytest.FixtureRequest) -> OldClient:
    """Each test using this runs once per old client, or is skipped with the reason."""
    if request.param == "python":
        missing = python_client_missing()
        client = OldClient(
            "python", (str(compat_python()), str(HERE / "python" / "drive.py")), True
        )
    else:
        missing = node_client_missing()
        client = OldClient("node", ("node", str(HERE / "node" / "drive.js")), False)
    if missing:
        pytest.skip(missing)
    return client


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server on 127.0.0.1 (SQLite store, sandbox carrier, engine running), with
    the admin endpoints on for simulated inbound messages."""
    settings = make_settings(
        sqlite_url, media_dir=str(tmp_path / "media"), admin_token=ADMIN_TOKEN, poll_interval=0.05
    )
    with running_server(settings) as live:
        yield live


def api(live: LiveServer, creds: Credentials) -> httpx.Client:
    """A plain HTTP client on the server as ``creds``, for what newer clients do."""
    return httpx.Client(base_url=f"{live.base_url}/v1/users/{creds.user_id}", auth=creds.auth)


def wait_for(live: LiveServer, creds: Credentials, message_id: str, **expected: Any) -> Any:
    """The stored message once every expected column has its value; fails after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        row = live.run(live.store.messages.get(creds.user_id, message_id))
        if row is not None and all(row._mapping[k] == v for k, v in expected.items()):
            return row
        assert time.monotonic() < deadline, f"message {message_id}: {row} never had {expected}"
        time.sleep(0.05)


@pytest.fixture
def limited_server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server with a per-user request rate of one request, then one per 1000 s."""
    settings = make_settings(
        sqlite_url, media_dir=str(tmp_path / "media"), rate_limit_per_second=0.001,
        rate_limit_burst=1,
    )  # fmt: skip
    with running_server(settings) as live:
        yield live
