"""Configuration mistakes end in one line that says what is wrong, never a traceback, and
commands other than ``serve`` and ``migrate`` never create a store by accident."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from tests.conftest import POSTGRES_ADMIN_URL, _pg_url
from trebuchet.cli.main import main
from trebuchet.server.config import Settings
from trebuchet.server.store import Store

OTHER_COMMANDS = [
    ["users", "create"],
    ["numbers", "add", "+15550001111"],
    ["numbers", "list"],
    ["inject", "--from", "+15557654321", "--to", "+15550001111"],
    ["worker"],
]


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture
def missing_postgres(postgres_template: str) -> str:
    """A PostgreSQL URL whose database does not exist (the server does)."""
    return _pg_url(f"tb_missing_{uuid.uuid4().hex[:10]}")


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["migrate"], ["serve"], *OTHER_COMMANDS])
def test_a_postgres_database_that_does_not_exist(missing_postgres: str, command: list[str]) -> None:
    line = _one_line_error(CliRunner().invoke(main, [*command, "--db", missing_postgres]))
    assert "does not exist" in line and "cannot use the store" in line
    assert POSTGRES_ADMIN_URL.split("@")[-1].split("/")[0] in line


@pytest.mark.parametrize("command", [["migrate"], ["serve"], *OTHER_COMMANDS])
@pytest.mark.parametrize("url", ["mysql://u:hunter2@db.test/x", "nonsense"])
def test_an_unsupported_database_url(command: list[str], url: str) -> None:
    line = _one_line_error(CliRunner().invoke(main, [*command, "--db", url]))
    assert "cannot use the store" in line
    assert "hunter2" not in line


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"
    runner = CliRunner()
    created = runner.invoke(main, ["migrate", "--db", db])
    assert created.exit_code == 0, created.output
    assert created.output.startswith("created the schema (revision ")
    assert str(tmp_path / "new.db") in created.output
    again = runner.invoke(main, ["migrate", "--db", db])
    assert again.output.startswith("the schema is up to date (revision ")


@pytest.mark.parametrize("command", [["migrate"], ["serve"]])
def test_a_missing_folder_is_not_created(tmp_path: Path, command: list[str]) -> None:
    folder = tmp_path / "typo" / "dir"
    line = _one_line_error(CliRunner().invoke(main, [*command, "--db", f"sqlite:///{folder}/x.db"]))
    assert f"the folder {folder} does not exist" in line
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", OTHER_COMMANDS)
def test_other_commands_refuse_a_store_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Run from another folder with the default ``./trebuchet.db``: no new empty store."""
    monkeypatch.chdir(tmp_path)
    for name in ("TREBUCHET_DB", "TREBUCHET_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    line = _one_line_error(CliRunner().invoke(main, command))
    assert f"no store at {tmp_path / 'trebuchet.db'}" in line
    assert "trebuchet migrate" in line
    assert list(tmp_path.iterdir()) == []


def test_the_store_is_built_with_pool_size_and_sqlite_synchronous(tmp_path: Path) -> None:
    settings = Settings(
        db=f"sqlite:///{tmp_path / 's.db'}", db_pool_size=3, sqlite_synchronous="FULL"
    )

    async def check() -> tuple[int, int]:
        store = Store.from_settings(settings)
        await store.open()
        try:
            async with store.read() as conn:
                synchronous = int(await conn.scalar(text("PRAGMA synchronous")) or -1)
            return synchronous, store._engine.pool.size()  # type: ignore[attr-defined]
        finally:
            await store.close()

    assert asyncio.run(check()) == (2, 3)  # FULL is 2
