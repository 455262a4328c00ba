"""First start: the development start (``serve`` with nothing configured) turns on a demo
user, self-service numbers and loopback callbacks; anything configured turns it off.  The
files the server creates are readable by their owner only."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trebuchet.cli.main import serve_settings
from trebuchet.server.config import Settings
from trebuchet.server.media.storage import LocalMediaStorage, put_bytes
from trebuchet.server.store import Store

NO_FLAGS: dict[str, Any] = {
    "host": None,
    "port": None,
    "workers": None,
    "db": None,
    "demo_user": None,
}


def test_the_defaults_are_for_production() -> None:
    settings = Settings()
    assert not settings.demo_user
    assert not settings.numbers_self_service
    assert not settings.outbound_allow_loopback


@pytest.mark.parametrize("flags", [NO_FLAGS, {**NO_FLAGS, "port": 9000}])
def test_nothing_configured_is_the_development_start(flags: dict[str, Any]) -> None:
    settings, development = serve_settings(None, flags, environ={"HOME": "/home/x"})
    assert development
    assert settings.demo_user and settings.numbers_self_service
    assert settings.outbound_allow_loopback


@pytest.mark.parametrize(
    ("flags", "environ"),
    [
        ({**NO_FLAGS, "host": "0.0.0.0"}, {}),
        ({**NO_FLAGS, "db": "sqlite:///x.db"}, {}),
        ({**NO_FLAGS, "workers": 2}, {}),
        (NO_FLAGS, {"TREBUCHET_DB": "postgresql://db.internal/trebuchet"}),
        (NO_FLAGS, {"TREBUCHET_LOG_LEVEL": "DEBUG"}),
        (NO_FLAGS, {"TREBUCHET_DB_URL": "misspelt, but still configuration"}),
    ],
)
def test_anything_configured_turns_the_development_start_off(
    flags: dict[str, Any], environ: dict[str, str]
) -> None:
    settings, development = serve_settings(None, flags, environ=environ)
    assert not development
    assert not settings.demo_user and not settings.numbers_self_service
    assert not settings.outbound_allow_loopback


def test_a_config_file_turns_it_off_and_the_demo_user_can_be_asked_for(tmp_path: Path) -> None:
    config = tmp_path / "trebuchet.toml"
    config.write_text('log_level = "INFO"\n')
    settings, development = serve_settings(str(config), NO_FLAGS, environ={})
    assert not development and not settings.demo_user
    asked, development = serve_settings(None, {**NO_FLAGS, "demo_user": True}, environ={})
    assert not development and asked.demo_user and not asked.numbers_self_service
    from_env, _ = serve_settings(None, NO_FLAGS, environ={"TREBUCHET_DEMO_USER": "yes"})
    assert from_env.demo_user


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave files readable by everyone, to show it is not relied on."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_sqlite_files_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "private.db"

    async def write() -> None:
        store = Store(f"sqlite:///{db}")
        await store.open()
        try:
            await store.users.create(["+15550001111"])
            for name in (db.name, f"{db.name}-wal", f"{db.name}-shm"):
                assert (tmp_path / name).exists(), name
                assert _mode(tmp_path / name) == 0o600, name
        finally:
            await store.close()

    asyncio.run(write())
    assert _mode(db) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_media_directories_and_files_are_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "data" / "media"
    storage = LocalMediaStorage(root)
    asyncio.run(put_bytes(storage, "u-abc", "photo.png", b"png", "image/png", 1024))
    folders = [tmp_path / "data", root, root / "tmp", root / "users", root / "users" / "u-abc"]
    for folder in folders:
        assert _mode(folder) == 0o700, folder
    files = list((root / "users" / "u-abc").iterdir())
    assert len(files) == 1 and _mode(files[0]) == 0o600
