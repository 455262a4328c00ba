"""``trebuchet restore``: a backup goes back into a stopped store's place, checked first;
an existing store is replaced only with ``--force``, a damaged backup or one from a newer
schema changes nothing, an older schema is migrated."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine

from trebuchet.cli.main import main
from trebuchet.server.store import Store
from trebuchet.server.store.database import _alembic_config, schema_revisions


def _backup(tmp_path: Path, name: str = "live") -> tuple[Path, str]:
    """A store with one user, backed up with ``trebuchet backup``; answers the folder and
    the user's id."""
    url = f"sqlite:///{tmp_path / f'{name}.db'}"

    async def create() -> str:
        store = Store(url)
        await store.open()
        try:
            return (await store.users.create(["+15550001111"])).user.id
        finally:
            await store.close()

    user_id = asyncio.run(create())
    dest = tmp_path / f"{name}-backup"
    env = {"TREBUCHET_MEDIA_DIR": str(tmp_path / f"{name}-media")}
    result = CliRunner().invoke(main, ["backup", str(dest), "--db", url], env=env)
    assert result.exit_code == 0, result.output
    return dest, user_id


def _restore(src: Path, place: Path, *extra: str) -> tuple[int, str]:
    env = {"TREBUCHET_DB": f"sqlite:///{place / 'trebuchet.db'}",
           "TREBUCHET_MEDIA_DIR": str(place / "media")}  # fmt: skip
    result = CliRunner().invoke(main, ["restore", str(src), "--json", *extra], env=env)
    return result.exit_code, result.output


def _users(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT id FROM users")}
    finally:
        connection.close()


def test_restore_refuses_an_existing_store_unless_forced(tmp_path: Path) -> None:
    first, first_user = _backup(tmp_path, "one")
    second, second_user = _backup(tmp_path, "two")
    place = tmp_path / "place"
    place.mkdir()

    code, output = _restore(first, place)
    assert code == 0, output
    assert _users(place / "trebuchet.db") == {first_user}
    code, output = _restore(second, place)
    assert code == 1 and "--force" in output
    assert _users(place / "trebuchet.db") == {first_user}  # untouched
    (place / "trebuchet.db-wal").write_bytes(b"")  # a stale log of the replaced file
    code, output = _restore(second, place, "--force")
    assert code == 0, output
    assert _users(place / "trebuchet.db") == {second_user}
    assert not (place / "trebuchet.db-wal").exists()
    assert not list(place.glob("*.restoring*"))


def test_restore_refuses_a_damaged_backup_and_a_newer_schema(tmp_path: Path) -> None:
    backup, _ = _backup(tmp_path)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    data = bytearray((backup / "trebuchet.db").read_bytes())
    data[100 : len(data) // 2] = b"\xff" * (len(data) // 2 - 100)
    (damaged / "trebuchet.db").write_bytes(bytes(data))
    place = tmp_path / "place"
    place.mkdir()
    code, output = _restore(damaged, place)
    assert code == 1 and ("integrity" in output or "cannot be read" in output), output
    assert not (place / "trebuchet.db").exists()

    newer = sqlite3.connect(backup / "trebuchet.db")
    newer.execute("UPDATE alembic_version SET version_num = '9999'")
    newer.commit()
    newer.close()
    code, output = _restore(backup, place)
    assert code == 1 and "newer" in output and "9999" in output
    assert not (place / "trebuchet.db").exists()
    assert not list(place.glob("*.restoring*"))


def test_restore_migrates_an_older_backup(tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.mkdir()
    engine = create_engine(f"sqlite:///{older / 'trebuchet.db'}")
    previous = schema_revisions()[-2]
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), previous)
    engine.dispose()
    place = tmp_path / "place"
    place.mkdir()

    code, output = _restore(older, place)

    assert code == 0, output
    report = json.loads(output)
    assert (report["revision"], report["migratedTo"]) == (previous, schema_revisions()[-1])
    assert report["mediaFiles"] == 0 and (place / "media").is_dir()
    connection = sqlite3.connect(place / "trebuchet.db")
    try:
        assert (
            connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            == (schema_revisions()[-1])
        )
    finally:
        connection.close()
