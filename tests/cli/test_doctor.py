"""``trebuchet doctor``: one line per check, exit 1 when anything is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from tests.carriers.smsc import FakeSmsc
from tests.conftest import make_settings
from trebuchet.cli.doctor import run_checks
from trebuchet.cli.main import main
from trebuchet.server.store.database import _alembic_config

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def doctor(env: dict[str, str], *flags: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["doctor", "--timeout", "2", *flags], env=env)
    return result.exit_code, result.output.splitlines()


def test_a_healthy_deployment_passes_every_check(store_url: str, tmp_path: Path) -> None:
    env = {"TREBUCHET_DB": store_url, "TREBUCHET_MEDIA_DIR": str(tmp_path / "media")}
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0
    code, lines = doctor(env)
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok    store", "ok    migrations", "ok    carrier sandbox", "ok    media",
    ]  # fmt: skip
    code, lines = doctor(env, "--json")
    assert code == 0 and all(json.loads(line)["ok"] for line in lines)


def test_each_problem_is_one_line_and_fails_the_run(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0007")
    engine.dispose()
    media_file = tmp_path / "media"
    media_file.write_text("a file where the folder should be")
    env = {
        "TREBUCHET_DB": f"sqlite:///{db}",
        "TREBUCHET_MEDIA_DIR": str(media_file),
        "TREBUCHET_LIMITER_BACKEND": "redis",
        "TREBUCHET_REDIS_URL": UNREACHABLE_REDIS,
    }
    code, lines = doctor(env)
    assert code == 1
    failed = {line.split(":")[0].split()[1]: line for line in lines if line.startswith("FAIL")}
    assert set(failed) == {"migrations", "media", "redis"}, lines
    assert "at 0007" in failed["migrations"] and "trebuchet migrate" in failed["migrations"]
    assert "is not a folder" in failed["media"]
    assert "ok    store" in lines[0]


def test_a_missing_store_is_named(tmp_path: Path) -> None:
    code, lines = doctor({"TREBUCHET_DB": f"sqlite:///{tmp_path / 'none.db'}"})
    assert code == 1
    assert lines[0].startswith("FAIL  store: no store at") and "none.db" in lines[0]
    assert not (tmp_path / "none.db").exists()


def _smpp(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "smpp", "host": "127.0.0.1", "port": port, "system_id": "esme",
        "password": "secret", "rebind_initial": 0.05, "rebind_max": 0.2, **overrides,
    }  # fmt: skip


async def test_carriers_must_bind_or_take_a_connection(sqlite_url: str, tmp_path: Path) -> None:
    from trebuchet.server.store.database import migrate

    await migrate(sqlite_url)
    smsc = FakeSmsc()
    await smsc.start()
    try:
        closed = FakeSmsc()
        await closed.start()
        closed_port = closed.port
        await closed.stop()
        carriers = {
            "good": _smpp(smsc.port),
            "refused": _smpp(smsc.port, password="wrong"),
            "down": _smpp(closed_port),
            "upstream": {"type": "http", "url": f"http://127.0.0.1:{closed_port}/send",
                         "events_token": "t"},
            "broken": {"type": "smpp", "host": "127.0.0.1"},
        }  # fmt: skip
        routes = tuple({"carrier": name, "from": ["+15550001111"]} for name in carriers)
        settings = make_settings(
            sqlite_url, media_dir=str(tmp_path / "media"), carrier="good", carriers=carriers,
            routes=routes,
        )  # fmt: skip
        checks = {check.name: check for check in await run_checks(settings, 1.0)}
    finally:
        await smsc.stop()
    assert checks["carrier good"].problem is None
    assert smsc.binds, "the good carrier made a real bind"
    assert "did not bind" in (checks["carrier refused"].problem or "")
    assert "takes no connection" in (checks["carrier down"].problem or "")
    assert "takes no connection" in (checks["carrier upstream"].problem or "")
    assert "missing" in (checks["carrier broken"].problem or "")


@pytest.mark.parametrize("name", ["nowhere"])
async def test_an_unconfigured_carrier_is_reported(sqlite_url: str, name: str) -> None:
    settings = make_settings(sqlite_url, carrier=name)
    checks = {check.name: check for check in await run_checks(settings, 1.0)}
    assert checks[f"carrier {name}"].problem == "not configured under [carriers.NAME]"
