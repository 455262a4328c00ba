"""Installed with the SDK alone, ``trebuchet`` answers every command with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
# The server extra's packages (pyproject.toml), by import name.
SERVER_PACKAGES = (
    "starlette", "uvicorn", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "aiohttp",
    "click", "prometheus_client", "redis", "phonenumbers",
)  # fmt: skip

# Installed as sitecustomize: every server package fails to import, as if not installed.
BLOCKER = f"""
import sys

BLOCKED = {SERVER_PACKAGES!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    return subprocess.run(
        [sys.executable, "-m", "trebuchet.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [(), ("--help",), ("serve",), ("users", "list", "--json"), ("doctor",), ("export", "u-1")],
)
def test_every_command_says_how_to_install_the_server(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = _run(tmp_path, *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "the trebuchet command needs the server, which is not installed: "
        "pip install 'trebuchet[server]'"
    ]


def test_the_sdk_still_imports_without_the_server(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    check = "import trebuchet, click"
    result = subprocess.run(
        [sys.executable, "-c", "import trebuchet; print(trebuchet.Client.__name__)"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Client"
    blocked = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert "No module named 'click'" in blocked.stderr


def test_with_the_server_the_command_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-m", "trebuchet.cli", "--help"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
