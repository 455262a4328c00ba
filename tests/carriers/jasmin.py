"""The Jasmin SMPP peer (shared/peers/jasmin beside the repository), started once per run.

``TREBUCHET_JASMIN_DIR`` points elsewhere.  Tests that need it are skipped, with the
reason, when it cannot start on this machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "jasmin"
START_SECONDS = 600


@dataclass(frozen=True)
class Jasmin:
    host: str = "127.0.0.1"
    port: int = 2775
    # Receipts for every message (stat:ACCEPTD); ``perf`` never sends any.
    user: tuple[str, str] = ("esme", "esmepwd")
    perf: tuple[str, str] = ("perf", "perfpwd")


def peer_dir() -> Path:
    return Path(os.environ.get("TREBUCHET_JASMIN_DIR", str(DEFAULT_DIR)))


def start() -> tuple[Jasmin | None, str]:
    """The running peer, or None and why not."""
    up = peer_dir() / "up.sh"
    if not up.exists():
        return None, f"no Jasmin peer at {up}"
    try:
        done = subprocess.run(
            ["bash", str(up)], capture_output=True, text=True, timeout=START_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"Jasmin peer did not start: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return None, f"Jasmin peer did not start: {last}"
    return Jasmin(), ""


def stop() -> None:
    down = peer_dir() / "down.sh"
    if down.exists():
        subprocess.run(["bash", str(down)], capture_output=True, timeout=180, check=False)


@pytest.fixture(scope="session")
def jasmin() -> Iterator[Jasmin]:
    peer, reason = start()
    if peer is None:
        pytest.skip(reason)
    yield peer
    stop()
