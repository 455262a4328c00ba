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
    """The running peer, or None and why not.  A failed start is tried once more after
    stopping what it left: on a loaded machine its daemons can miss their time limit."""
    up = peer_dir() / "up.sh"
    if not up.exists():
        return None, f"no Jasmin peer at {up}"
    reason = ""
    for _ in range(2):
        try:
            done = subprocess.run(
                ["bash", str(up)],
                capture_output=True,
                text=True,
                timeout=START_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"Jasmin peer did not start: {exc}"
        else:
            if done.returncode == 0:
                return Jasmin(), ""
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            reason = f"Jasmin peer did not start: {last}"
        stop()
    return None, reason


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
