"""``trebuchet backup DEST``: a consistent copy of a live SQLite store and its media.

``DEST`` is a new folder (or an empty one); it receives ``trebuchet.db``, a copy of the
store taken with SQLite's online backup API while the server runs, and ``media/``, a copy
of the media folder made after it, so every media file a copied message names is there
(files deleted meanwhile are skipped; uploads in progress are not copied).  Restoring is
copying both back while the server is stopped (``docs/operations.md``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click

from trebuchet.cli.common import config_option, db_option, settings_from
from trebuchet.cli.output import emit_one, json_option
from trebuchet.server.store.backup import BackupFailed, NotSqlite, backup_sqlite

STORE_FILE = "trebuchet.db"
MEDIA_FOLDER = "media"
PRIVATE_DIR_MODE = 0o700
# Uploads still being written live here; they are not media yet.
SKIPPED = shutil.ignore_patterns("tmp")


def _copy_if_still_there(source: str, target: str) -> Any:
    try:
        return shutil.copy2(source, target)
    except FileNotFoundError:  # deleted by its user while the copy ran
        return target


def copy_media(source: Path, target: Path) -> int:
    """Copy the media folder; answers how many files were copied."""
    if not source.is_dir():
        target.mkdir(mode=PRIVATE_DIR_MODE)
        return 0
    shutil.copytree(source, target, ignore=SKIPPED, copy_function=_copy_if_still_there)
    return sum(1 for path in target.rglob("*") if path.is_file())


def _prepare(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise click.ClickException(f"{dest} exists and is not an empty folder")
    dest.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    os.chmod(dest, PRIVATE_DIR_MODE)


@click.command()
@db_option
@config_option
@json_option
@click.argument("dest", type=click.Path(path_type=Path))
def backup(db: str | None, config_file: str | None, as_json: bool, dest: Path) -> None:
    """Copy a live SQLite store and its media folder into DEST (a new folder)."""
    settings = settings_from(config_file, db=db)
    _prepare(dest)
    try:
        copied = backup_sqlite(settings.db, dest / STORE_FILE)
    except NotSqlite as exc:
        dest.rmdir()
        raise click.ClickException(str(exc)) from exc
    except (BackupFailed, OSError, ValueError) as exc:
        raise click.ClickException(f"the backup failed: {exc}") from exc
    files = copy_media(Path(settings.media_dir), dest / MEDIA_FOLDER)
    emit_one(
        {"store": str(copied.path), "bytes": copied.bytes, "media": str(dest / MEDIA_FOLDER),
         "mediaFiles": files},
        as_json,
    )  # fmt: skip
