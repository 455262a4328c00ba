"""``trebuchet purge``: the dry run counts what retention would remove now and changes
nothing; the purge removes it, with the windows the settings give."""

from __future__ import annotations

import asyncio
import json

from benchmarks.soak import day_rows, write_day
from click.testing import CliRunner

from trebuchet.cli.main import main
from trebuchet.server.domain.times import now_us
from trebuchet.server.store import Store
from trebuchet.server.store.retention import DAY_US, STEPS

PER_DAY = 20


async def plant(url: str, days_ago: list[int]) -> dict[str, int]:
    store = Store(url)
    await store.open()
    try:
        for days in days_ago:
            await write_day(store, day_rows(now_us() - days * DAY_US, PER_DAY, "u-1"))
        return await store.retention.table_rows()
    finally:
        await store.close()


def rows_of(url: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        store = Store(url)
        await store.open(run_migrations=False)
        try:
            return await store.retention.table_rows()
        finally:
            await store.close()

    return asyncio.run(read())


def test_dry_run_counts_and_purge_removes(store_url: str) -> None:
    before = asyncio.run(plant(store_url, [40, 10]))
    runner = CliRunner()

    dry = runner.invoke(main, ["purge", "--dry-run", "--json", "--db", store_url])
    assert dry.exit_code == 0, dry.output
    due = json.loads(dry.output)
    assert list(due) == list(STEPS)
    assert due["records"] == PER_DAY + PER_DAY // 10  # the day 40 days ago
    assert due["text"] == 2 * (PER_DAY + PER_DAY // 10)
    assert due["idempotency_keys"] == 2 * PER_DAY
    assert rows_of(store_url) == before  # nothing changed

    done = runner.invoke(main, ["purge", "--json", "--db", store_url])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == due
    after = rows_of(store_url)
    assert after["messages"] == before["messages"] - due["records"]
    again = runner.invoke(main, ["purge", "--dry-run", "--json", "--db", store_url])
    assert json.loads(again.output) == dict.fromkeys(STEPS, 0)


def test_the_table_and_the_settings(store_url: str) -> None:
    asyncio.run(plant(store_url, [40]))
    env = {"TREBUCHET_RETENTION_RECORD_DAYS": "0"}  # keep records forever

    shown = CliRunner().invoke(main, ["purge", "--dry-run", "--db", store_url], env=env)

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split() == ["step", "rows"]
    by_step = {line.split()[0]: line for line in lines[1:]}
    assert list(by_step) == list(STEPS)
    assert by_step["records"].split()[1] == "0"
    assert by_step["user_errors"].split()[1] == "0"
    assert by_step["text"].split()[1] == str(PER_DAY + PER_DAY // 10)
    assert "would be emptied" in by_step["text"]


def test_a_missing_store_is_one_line(tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["purge", "--dry-run", "--db", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 1
    assert "no store at" in result.output and "Traceback" not in result.output
