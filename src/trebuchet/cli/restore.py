"""``trebuchet restore SRC``: a backup of ``trebuchet backup`` put back in place.

``SRC`` is the backup's folder (``trebuchet.db`` and ``media/``).  The store goes where
the settings' ``db`` names (a SQLite file) and the media where ``media_dir`` names, while
every server and worker on them is stopped.  An existing store or a media folder with
files in it is replaced only with ``--force``.  The backup is checked in full and its
schema revision read first: a damaged backup, or one from a newer version, changes
nothing; an older one is migrated (``docs/operations.md``).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import click

from trebuchet.cli.backup import MEDIA_FOLDER, PRIVATE_DIR_MODE, STORE_FILE, copy_media
from trebuchet.cli.common import config_option, db_option, settings_from
from trebuchet.cli.output import emit_one, json_option
from trebuchet.server.store.backup import NotSqlite, RestoreRefused, restore_sqlite


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(path.is_file() for path in folder.rglob("*"))


def restore_media(source: Path, target: Path) -> int:
    """Replace the media folder ``target`` with the backup's; answers the files copied.
    The copy is made beside it first, so a failed copy leaves the old folder whole."""
    staged = target.with_name(target.name + ".restoring")
    shutil.rmtree(staged, ignore_errors=True)
    files = copy_media(source, staged)
    staged.chmod(PRIVATE_DIR_MODE)
    if target.exists():
        shutil.rmtree(target)
    staged.rename(target)
    return files


@click.command()
@db_option
@config_option
@json_option
@click.option("--force", is_flag=True, help="Replace an existing store and media folder")
@click.argument("src", type=click.Path(path_type=Path))
def restore(db: str | None, config_file: str | None, as_json: bool, force: bool, src: Path) -> None:
    """Restore a backup folder SRC (from trebuchet backup) into the stopped store's place."""
    settings = settings_from(config_file, db=db)
    if not (src / STORE_FILE).is_file():
        raise click.ClickException(f"{src} holds no {STORE_FILE}: not a backup folder")
    media_dir = Path(settings.media_dir)
    if _has_files(media_dir) and not force:
        raise click.ClickException(
            f"the media folder {media_dir.absolute()} has files; restore with --force to replace it"
        )
    try:
        restored = asyncio.run(restore_sqlite(src / STORE_FILE, settings.db, force=force))
    except (NotSqlite, RestoreRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"the restore failed: {exc}") from exc
    files = restore_media(src / MEDIA_FOLDER, media_dir)
    emit_one(
        {"store": str(restored.path), "bytes": restored.bytes, "revision": restored.revision,
         "migratedTo": restored.migrated_to, "media": str(media_dir), "mediaFiles": files},
        as_json,
    )  # fmt: skip
