"""The CLI in process (click's CliRunner) and `trebuchet serve` as a real process."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
from click.testing import CliRunner

from trebuchet.cli.main import main


def test_users_create_prints_credentials_and_stores_a_hash(store_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--db", store_url]).exit_code == 0
    result = runner.invoke(
        main, ["users", "create", "--db", store_url, "--number", "+15550001111", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"userId", "apiToken", "apiSecret", "numbers", "callbackSecret"}
    assert data["callbackSecret"] and data["callbackSecret"] != data["apiSecret"]
    assert data["numbers"] == ["+15550001111"]
    assert data["userId"].startswith("u-")

    added = runner.invoke(
        main,
        ["numbers", "add", "--db", store_url, "--json", "--user", data["userId"], "+15550002222"],
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["number"] == "+15550002222"

    taken = runner.invoke(
        main, ["numbers", "add", "--db", store_url, "--user", data["userId"], "+15550002222"]
    )
    assert taken.exit_code != 0 and "already in the inventory" in taken.output
    bad = runner.invoke(
        main, ["numbers", "add", "--db", store_url, "--user", data["userId"], "555"]
    )
    assert bad.exit_code == 2 and "E.164" in bad.output
    nobody = runner.invoke(
        main, ["numbers", "add", "--db", store_url, "--user", "u-nobody", "+15550003333"]
    )
    assert nobody.exit_code == 1 and "no user" in nobody.output


def test_env_var_selects_the_database(tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    env = {"TREBUCHET_DB": f"sqlite:///{db}"}
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0
    assert db.exists()
    result = CliRunner().invoke(main, ["users", "create", "--json"], env=env)
    assert result.exit_code == 0, result.output


def test_config_file_and_flag_precedence(tmp_path: Path) -> None:
    file_db, flag_db = tmp_path / "file.db", tmp_path / "flag.db"
    config = tmp_path / "trebuchet.toml"
    config.write_text(f'db = "sqlite:///{file_db}"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--config", str(config)]).exit_code == 0
    assert file_db.exists()
    assert (
        runner.invoke(
            main, ["migrate", "--config", str(config), "--db", f"sqlite:///{flag_db}"]
        ).exit_code
        == 0
    )
    assert flag_db.exists()
    config.write_text("nonsense = 1\n")
    failed = runner.invoke(main, ["migrate", "--config", str(config)])
    assert failed.exit_code == 2 and "nonsense" in failed.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """The stream's lines, read on a thread, so that waiting for one can time out."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


@pytest.mark.slow
def test_serve_creates_a_demo_user_and_answers_over_a_socket(tmp_path: Path) -> None:
    """The README's first command: ``trebuchet serve`` with nothing configured, in a
    fresh folder, prints a demo user whose two numbers can message each other."""
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("TREBUCHET_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trebuchet.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = []
        assert proc.stdout is not None
        lines = _lines(proc.stdout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            banner.append(line)
            if "print(api.get_message" in line:
                break
        text = "".join(banner)
        assert text.startswith("development start:"), text
        assert (tmp_path / "trebuchet.db").exists()
        creds = {
            k: text.split(f"  {k}", 1)[1].split()[0] for k in ("userId", "apiToken", "apiSecret")
        }
        numbers = text.split("  numbers", 1)[1].split()[:2]
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        auth = (creds["apiToken"], creds["apiSecret"])
        sent = httpx.post(
            f"{base}/v1/users/{creds['userId']}/messages",
            json={"from": numbers[0], "to": numbers[1], "text": "hello"},
            auth=auth,
        )
        assert sent.status_code == 201
        assert sent.headers["location"].startswith(f"{base}/v1/users/{creds['userId']}/messages/m-")
        listed = httpx.get(f"{base}/v1/users/{creds['userId']}/messages", auth=auth)
        assert listed.headers["content-type"] == "application/json"
        assert any(m["text"] == "hello" for m in listed.json())
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def _children(pid: int) -> list[int]:
    """Worker processes started by ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table")
def test_serve_with_workers_shares_the_port_and_the_settings(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'workers.db'}"
    assert CliRunner().invoke(main, ["migrate", "--db", db]).exit_code == 0
    created = CliRunner().invoke(
        main, ["users", "create", "--db", db, "--json", "--number", "+15550100001"]
    )
    user = json.loads(created.output)
    port = _free_port()
    env = {
        **os.environ,
        "TREBUCHET_DB": db,
        "TREBUCHET_BULK_LIMIT": "3",  # reaches every worker through the parent's settings
        "TREBUCHET_MEDIA_DIR": str(tmp_path / "media"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "trebuchet.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    messages = f"{base}/v1/users/{user['userId']}/messages"
    auth = (user["apiToken"], user["apiSecret"])
    try:
        deadline = time.monotonic() + 30
        # --workers is the older name of --api-processes: 2 API processes, 1 delivery.
        while len(_children(proc.pid)) < 3 or not _answers(f"{base}/health"):
            assert time.monotonic() < deadline, "serve --workers 2 did not start"
            time.sleep(0.1)
        ids = []
        for i in range(30):  # a new connection each time: the kernel spreads them
            with httpx.Client(auth=auth) as http:
                sent = http.post(
                    messages, json={"from": "+15550100001", "to": "+15550100002", "text": f"{i}"}
                )
                assert sent.status_code == 201, sent.text
                ids.append(sent.headers["location"].rsplit("/", 1)[1])
                too_many = http.post(messages, json=[{"to": "+15550100002"}] * 4)
                assert too_many.status_code == 403, too_many.text  # category "limit"
                assert too_many.json()["code"] == "multi-message-limit"
        with httpx.Client(auth=auth) as http:
            while True:  # the delivery process delivers each message once
                states = [http.get(f"{messages}/{mid}").json()["state"] for mid in ids]
                if set(states) == {"sent"} or time.monotonic() > deadline + 30:
                    break
                time.sleep(0.2)
        assert set(states) == {"sent"}
    finally:
        children = _children(proc.pid)
        proc.terminate()
        proc.wait(timeout=30)
    assert len(children) == 3
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "workers outlived serve"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# aiosqlite's thread answers a failed connection's stop on the loop after the fact; the
# CLI waits for it, but on a loaded machine it can still come late (harmless there).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_serve_says_why_when_it_cannot_open_the_store(tmp_path: Path) -> None:
    from tests.reliability import faults

    folder = tmp_path / "locked"
    folder.mkdir()
    faults.require_immutable(folder)
    with faults.made_immutable([folder]):
        result = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{folder / 'x.db'}"])
    assert result.exit_code == 1
    assert "cannot use the store" in result.output
    assert "unable to open database file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
