"""Making a SQLite store refuse writes, for real, while a server has it open.

* :func:`immutable`: ``chattr +i`` on the database, its WAL file and their folder.
  Unlike ``chmod`` it binds root too, and it takes effect on files already open: the
  next write fails with ``EPERM``, and a new connection can only read.
* :func:`small_disk`: a tmpfs of a few megabytes mounted for the store; :func:`filled`
  then takes every free byte, so the next page the store needs is refused (``ENOSPC``).

Both need root (or the capabilities behind ``chattr`` and ``mount``); :class:`Unsupported`
says why not, and the tests skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

FILL_CHUNK = 64 * 1024


class Unsupported(Exception):
    """This machine cannot inject the fault."""


def _run(*command: str) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise Unsupported(f"{' '.join(command)}: {exc} {detail.decode().strip()}") from exc


def store_files(db_path: Path) -> list[Path]:
    # Not the -shm file: SQLite maps it into memory, and a write to a mapped page of an
    # immutable file is a SIGBUS, a fault of the test's making.  It holds only the WAL's
    # index; every byte of data goes through the database and -wal files.
    names = [db_path, Path(f"{db_path}-wal")]
    return [path for path in names if path.exists()] + [db_path.parent]


def check_immutable_supported(folder: Path) -> None:
    probe = folder / ".immutable-probe"
    probe.write_bytes(b"x")
    try:
        _run("chattr", "+i", str(probe))
        _run("chattr", "-i", str(probe))
    finally:
        with contextlib.suppress(Unsupported):
            _run("chattr", "-i", str(probe))
        probe.unlink(missing_ok=True)


def require_immutable(folder: Path) -> None:
    """Skip the calling test when this machine cannot make files in ``folder`` immutable."""
    try:
        check_immutable_supported(folder)
    except Unsupported as exc:
        pytest.skip(f"cannot make files read-only here: {exc}")


@contextlib.contextmanager
def made_immutable(paths: list[Path]) -> Iterator[None]:
    """``chattr +i`` on ``paths`` for the block, ``-i`` after it."""
    try:
        for path in paths:
            _run("chattr", "+i", str(path))
        yield
    finally:
        for path in paths:
            with contextlib.suppress(Unsupported):
                _run("chattr", "-i", str(path))


def immutable(db_path: Path) -> Callable[[], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def fault() -> AsyncIterator[None]:
        with made_immutable(store_files(db_path)):
            yield

    return fault


@contextlib.contextmanager
def small_disk(mount_point: Path, megabytes: int) -> Iterator[Path]:
    mount_point.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "tmpfs", str(mount_point))
    try:
        yield mount_point
    finally:
        _run("umount", "--lazy", str(mount_point))


def filled(folder: Path) -> Callable[[], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def fault() -> AsyncIterator[None]:
        filler = folder / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for size in (FILL_CHUNK, 4096, 512, 1):  # bounded by the size of the disk
                with contextlib.suppress(OSError):
                    while os.write(fd, b"\0" * size):
                        pass
            os.fsync(fd)
            yield
        finally:
            os.close(fd)
            filler.unlink(missing_ok=True)

    return fault
