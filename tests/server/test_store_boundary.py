"""All SQL is inside the store: the store answers the readiness ping itself, and the
import contract that keeps SQLAlchemy inside the store covers every other part."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from trebuchet.server.store import Store

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "src" / "trebuchet" / "server"


async def test_the_store_answers_a_ping(store_url: str) -> None:
    store = Store(store_url)
    await store.open()
    try:
        await store.ping()
    finally:
        await store.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_ping_raises_when_the_store_does_not_answer() -> None:
    store = Store(f"postgresql://nobody:x@127.0.0.1:{_closed_port()}/nothing")
    try:
        with pytest.raises(ConnectionRefusedError):
            await store.ping()
    finally:
        await store.close()


def test_the_sql_contract_covers_every_part_but_the_store() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["id"] == "sql"]
    parts = {
        f"trebuchet.server.{path.stem}"
        for path in SERVER.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert set(contract["source_modules"]) == parts - {"trebuchet.server.store"} | {"trebuchet.cli"}
    assert set(contract["forbidden_modules"]) == {"sqlalchemy", "alembic"}
