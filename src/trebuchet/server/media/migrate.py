"""Moving a filesystem media store into another storage (``trebuchet media migrate``).

Every user's files are copied one at a time through the two storages' own interfaces:
the source file is opened and its bytes stream into the destination's ``put``, so no
file is ever whole in memory, and the destination keeps what the file's header said
(content type, ``Cache-Control``, name, creation time).  The source is only read.

A file counts as copied when the destination holds a file under its name with the same
size and the same creation time (the creation time, to the microsecond, travels with
the copy and is what tells a copy from a different file of the same size).  Each copy is
also written to a ledger next to the source files (``migrated/<destination>.jsonl``, one
line a file), which tells the other cases apart:

* the destination lacks the name, and no version of it was ever copied: copy it;
* it lacks the name, but a version was copied: it was deleted there (after the switch),
  and is not brought back;
* it holds our copy of an older version (the file was replaced on disk before the
  switch): copy the new one over it;
* it holds a file we did not put there (uploaded after the switch): leave it alone.

So a run can be stopped at any point and run again: it copies only what is left, and a
destination ``put`` is all or nothing, so no half copy is ever taken for a whole one.
A file deleted from the disk after it was copied stays in the destination: nothing here
deletes anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trebuchet.server.media.storage import (
    PRIVATE_FILE_MODE,
    LocalMediaStorage,
    MediaInfo,
    MediaNotFound,
    MediaStorage,
    make_private_dirs,
)

LIST_PAGE = 1000
# Why a file was not copied (the report's ``skippedWhy``).
PRESENT = "present"  # the same file is already there
DELETED = "deleted"  # copied by an earlier run and deleted there since
DIFFERENT = "different"  # the destination holds another file under that name
GONE = "gone"  # deleted from the source while the run went on
SKIP_REASONS = (PRESENT, DELETED, DIFFERENT, GONE)

Key = tuple[str, str, int, int]  # user id, name, creation time, size
Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass(frozen=True)
class Failure:
    user_id: str
    name: str
    reason: str


@dataclass
class MigrationReport:
    dry_run: bool = False
    copied: int = 0
    copied_bytes: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    failures: list[Failure] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "dryRun": self.dry_run,
            "copied": self.copied,
            "bytes": self.copied_bytes,
            "skipped": sum(self.skipped.values()),
            "skippedWhy": dict(self.skipped),
            "failed": len(self.failures),
            "failures": [
                {"userId": f.user_id, "name": f.name, "reason": f.reason} for f in self.failures
            ],
        }


class Ledger:
    """The files already copied to one destination, kept beside the source files."""

    def __init__(self, source_root: Path, destination: str) -> None:
        digest = hashlib.sha256(destination.encode()).hexdigest()[:16]
        self.path = source_root / "migrated" / f"{digest}.jsonl"
        self.destination = destination

    def load(self) -> set[Key]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return set()
        found: set[Key] = set()
        for line in lines:
            try:
                item = json.loads(line)
                found.add((item["user"], item["name"], int(item["created"]), int(item["size"])))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that file is simply checked again
        return found

    def _append(self, line: str) -> None:
        make_private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    async def record(self, key: Key) -> None:
        user_id, name, created, size = key
        line = json.dumps(
            {
                "to": self.destination,
                "user": user_id,
                "name": name,
                "created": created,
                "size": size,
            }
        )
        await asyncio.to_thread(self._append, line + "\n")


def _same(there: MediaInfo, here: MediaInfo) -> bool:
    return there.size == here.size and there.created_us == here.created_us


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _work(source: LocalMediaStorage) -> list[tuple[str, str]]:
    work: list[tuple[str, str]] = []
    for user_id in await source.users():
        after: str | None = None
        while True:
            page = await source.list(user_id, after=after, limit=LIST_PAGE)
            work.extend((user_id, entry.name) for entry in page)
            if len(page) < LIST_PAGE:
                break
            after = page[-1].name
    return work


async def _one(
    source: LocalMediaStorage,
    target: MediaStorage,
    ledger: Ledger,
    done: set[Key],
    copied: set[tuple[str, str]],
    user_id: str,
    name: str,
    report: MigrationReport,
) -> None:
    try:
        media = await source.open(user_id, name)
    except MediaNotFound:
        report.skipped[GONE] += 1
        return
    async with media:
        info = media.info
        key: Key = (user_id, name, info.created_us, info.size)
        there = await target.stat(user_id, name)
        if there is not None and _same(there, info):
            report.skipped[PRESENT] += 1
            if key not in done and not report.dry_run:
                await ledger.record(key)
            return
        if there is not None and (user_id, name, there.created_us, there.size) not in done:
            report.skipped[DIFFERENT] += 1  # not our copy: written there since the switch
            return
        if there is None and (user_id, name) in copied:
            report.skipped[DELETED] += 1  # some version was copied, then deleted there
            return
        # Missing there, or our earlier copy of a file replaced on disk since: copy it.
        if not report.dry_run:
            await target.put(
                user_id,
                name,
                media.chunks(),
                content_type=info.content_type,
                limit=max(info.size, 1),
                cache_control=info.cache_control,
                created_us=info.created_us,
            )
            await ledger.record(key)
        report.copied += 1
        report.copied_bytes += info.size


async def migrate_media(
    source: LocalMediaStorage,
    target: MediaStorage,
    ledger: Ledger,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy every file of ``source`` that ``target`` lacks (see the module docstring);
    a file that cannot be copied is reported and the run goes on."""
    report = MigrationReport(dry_run=dry_run)
    done = await asyncio.to_thread(ledger.load)
    copied = {(user_id, name) for user_id, name, _, _ in done}
    work = await _work(source)
    for index, (user_id, name) in enumerate(work):
        try:
            await _one(source, target, ledger, done, copied, user_id, name, report)
        except Exception as exc:  # one file's trouble is reported, not the run's end
            report.failures.append(Failure(user_id, name, _reason(exc)))
        if progress is not None:
            progress(index + 1, len(work))
    return report
