"""``trebuchet backup``: a copy of a live SQLite store taken while a real server writes
holds every message whose send was answered before the copy began."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

import httpx
from click.testing import CliRunner

from tests.conftest import Credentials, LiveServer, harnessed, make_settings
from trebuchet.cli.main import main

WRITERS = 3
MAX_SENDS = 3000  # per writer, a bound whatever the machine's speed
BEFORE_BACKUP = 300  # acknowledged sends before the backup starts
AFTER_BACKUP = 100  # and after it ends, so the copy was taken under load
WAIT_SECONDS = 120


class Writers:
    """Threads sending messages to the live server, recording each acknowledged id."""

    def __init__(self, live: LiveServer, creds: Credentials):
        self.live, self.creds = live, creds
        self.acked: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.progress = threading.Condition(self.lock)
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]

    def _write(self, index: int) -> None:
        path = f"/v1/users/{self.creds.user_id}/messages"
        body = {"from": self.creds.numbers[0], "to": "+15557654321"}
        with httpx.Client(base_url=self.live.base_url, auth=self.creds.auth, timeout=30) as http:
            for count in range(MAX_SENDS):
                if self.stop.is_set():
                    return
                response = http.post(path, json={**body, "text": f"w{index} #{count}"})
                assert response.status_code == 201, response.text
                with self.progress:
                    self.acked.append(response.headers["location"].rsplit("/", 1)[1])
                    self.progress.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.progress:
            reached = self.progress.wait_for(lambda: len(self.acked) >= count, WAIT_SECONDS)
            assert reached, f"only {len(self.acked)} sends acknowledged"
            return list(self.acked)

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(WAIT_SECONDS)


def test_a_backup_under_write_load_has_every_acknowledged_message(
    live_server: LiveServer, sqlite_url: str, tmp_path: Path
) -> None:
    creds = live_server.create_user(["+15550001111"])
    media = httpx.put(
        f"{live_server.base_url}/v1/users/{creds.user_id}/media/photo.png",
        content=b"\x89PNG picture", headers={"Content-Type": "image/png"}, auth=creds.auth,
    )  # fmt: skip
    assert media.status_code == 200, media.text
    dest = tmp_path / "backup"
    env = {"TREBUCHET_DB": sqlite_url, "TREBUCHET_MEDIA_DIR": str(tmp_path / "media")}
    with Writers(live_server, creds) as writers:
        before = writers.wait_for(BEFORE_BACKUP)
        result = CliRunner().invoke(main, ["backup", str(dest), "--json"], env=env)
        during = len(writers.wait_for(0))
        writers.wait_for(during + AFTER_BACKUP)
    assert result.exit_code == 0, result.output
    assert during > len(before), "the writers kept writing while the backup ran"

    copy = sqlite3.connect(dest / "trebuchet.db")
    try:
        stored = {row[0] for row in copy.execute("SELECT id FROM messages")}
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()
    assert set(before) <= stored
    assert len(stored) < len(writers.acked), "the copy is a snapshot, not the final store"
    assert (dest / "media" / "users" / creds.user_id).is_dir()

    # Restored to a new location, every message acknowledged before the backup is there.
    place = tmp_path / "restored"
    place.mkdir()
    restored_url = f"sqlite:///{place / 'trebuchet.db'}"
    restore_env = {"TREBUCHET_DB": restored_url, "TREBUCHET_MEDIA_DIR": str(place / "media")}
    answer = CliRunner().invoke(main, ["restore", str(dest), "--json"], env=restore_env)
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.output)
    assert report["migratedTo"] is None and report["mediaFiles"] == 1
    restored_db = sqlite3.connect(place / "trebuchet.db")
    try:
        assert {row[0] for row in restored_db.execute("SELECT id FROM messages")} == stored
    finally:
        restored_db.close()

    async def restored() -> None:
        settings = make_settings(restored_url, media_dir=str(place / "media"))
        async with harnessed(settings) as harness:
            http = harness.http(creds)
            for message_id in before[:: len(before) // 20]:
                found = await http.get(f"{harness.messages_path(creds)}/{message_id}")
                assert found.status_code == 200, found.text
            picture = await http.get(f"/v1/users/{creds.user_id}/media/photo.png")
            assert picture.content == b"\x89PNG picture"

    asyncio.run(restored())


def test_backup_refuses_postgresql_and_a_used_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    pg = runner.invoke(main, ["backup", str(tmp_path / "b"), "--db", "postgresql://x@127.0.0.1/y"])
    assert pg.exit_code == 1 and "pg_dump" in pg.output
    assert not (tmp_path / "b").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "file").write_text("x")
    taken = runner.invoke(main, ["backup", str(used), "--db", f"sqlite:///{tmp_path / 'a.db'}"])
    assert taken.exit_code == 1 and "not an empty folder" in taken.output
    missing = runner.invoke(
        main, ["backup", str(tmp_path / "c"), "--db", f"sqlite:///{tmp_path / 'a.db'}"]
    )
    assert missing.exit_code == 1 and "no store at" in missing.output
