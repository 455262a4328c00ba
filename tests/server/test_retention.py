"""Retention and pruning in the store, on both stores: each batch is bounded, the dry run
counts exactly what a round then removes, and two housekeepers over one database (two
processes' stores) share the work without error or double counting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from benchmarks.soak import START_US, SimulatedClock, day_rows, write_day

from trebuchet.server.config import Settings
from trebuchet.server.engine.housekeeping import Housekeeper
from trebuchet.server.store import Store
from trebuchet.server.store.retention import DAY_US, STEPS, RetentionPolicy

PER_DAY = 40
SENT_AND_RECEIVED = PER_DAY + PER_DAY // 10


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.open()
    yield opened
    await opened.close()


async def plant_days(store: Store, days: list[int]) -> None:
    for day in days:
        await write_day(store, day_rows(START_US + day * DAY_US, PER_DAY, "u-1"))


async def test_a_batch_handles_at_most_its_limit(store: Store) -> None:
    await plant_days(store, [0])
    cutoff = START_US + 40 * DAY_US

    first = await store.retention.batch("records", cutoff, 7)
    assert first.handled == 7
    assert (await store.retention.table_rows())["messages"] == SENT_AND_RECEIVED - 7
    text = await store.retention.batch("text", cutoff, 5)
    assert text.handled == 5


async def test_the_dry_run_counts_what_a_round_removes(store: Store) -> None:
    await plant_days(store, [0, 1, 20, 27, 30])
    clock = SimulatedClock(START_US + 32 * DAY_US)
    keeper = Housekeeper(store, RetentionPolicy(), clock=clock, batch=13)

    due = await keeper.due()
    before = await store.retention.table_rows()
    handled = await keeper.run_once()

    assert handled == due
    assert due["records"] == 2 * SENT_AND_RECEIVED  # days 0 and 1
    assert due["text"] == 4 * SENT_AND_RECEIVED  # all but day 30's: older than 3 days
    assert due["idempotency_keys"] == 5 * PER_DAY  # every day's: all older than 24 hours
    after = await store.retention.table_rows()
    assert after["messages"] == before["messages"] - due["records"]
    assert after["user_errors"] == before["user_errors"] - due["user_errors"] > 0
    assert after["idempotency_keys"] == 0
    assert after["events"] == 2 * 2 * PER_DAY  # days 27 and 30: delivered under 7 days ago
    # Only references still waiting for their receipt, and not expired, are left.
    assert after["carrier_refs"] == PER_DAY // 20  # day 30's: one in twenty
    assert await keeper.due() == dict.fromkeys(STEPS, 0)


async def test_two_housekeepers_at_once_share_the_work(store: Store, store_url: str) -> None:
    await plant_days(store, list(range(6)))
    other = Store(store_url)  # another process's store: its own connections and writer
    await other.open()
    clock = SimulatedClock(START_US + 40 * DAY_US)
    try:
        keepers = [Housekeeper(s, RetentionPolicy(), clock=clock, batch=9) for s in (store, other)]
        due = await keepers[0].due()
        rounds = await asyncio.gather(*(keeper.run_once() for keeper in keepers))
    finally:
        await other.close()

    assert due["records"] == 6 * SENT_AND_RECEIVED
    for step in STEPS:
        assert rounds[0][step] + rounds[1][step] == due[step], step
    rows = await store.retention.table_rows()
    assert rows == {**dict.fromkeys(rows, 0)}


async def test_a_carrier_ref_batch_takes_receipted_then_expired_each_once(store: Store) -> None:
    await plant_days(store, [0])  # one reference in twenty never gets its receipt
    expired = START_US + 4 * DAY_US
    receipted = PER_DAY - PER_DAY // 20

    first = await store.retention.batch("carrier_refs", expired, receipted + 1)
    second = await store.retention.batch("carrier_refs", expired, receipted + 1)

    assert (first.handled, second.handled) == (receipted + 1, PER_DAY // 20 - 1)
    assert (await store.retention.table_rows())["carrier_refs"] == 0


class Ticks:
    """A timer that advances ``step`` seconds each time it is read, and a sleep that
    records what it was asked for instead of waiting."""

    def __init__(self, step: float):
        self.step = step
        self.now = 0.0
        self.pauses: list[float] = []

    def timer(self) -> float:
        self.now += self.step
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)


async def test_the_housekeeper_pauses_after_every_batch_by_its_duty_cycle(store: Store) -> None:
    await plant_days(store, [0, 1])
    clock = SimulatedClock(START_US + 40 * DAY_US)
    ticks = Ticks(0.5)  # every batch "takes" 0.5 s: read before and after it
    keeper = Housekeeper(
        store, RetentionPolicy(), clock=clock, batch=10,
        duty_cycle=0.2, sleep=ticks.sleep, timer=ticks.timer,
    )  # fmt: skip

    due = await keeper.due()
    handled = await keeper.run_once()

    assert handled == due
    # One batch per full ten rows of each step, and one more that finds the rest.
    batches = sum(count // 10 + 1 for count in handled.values())
    assert len(ticks.pauses) == batches
    # 0.5 s in the transaction at a duty cycle of 0.2: 2 s of pause after each.
    assert ticks.pauses == [pytest.approx(2.0)] * batches


async def test_settings_pace_the_housekeeper_and_shrink_its_batch_on_sqlite(store: Store) -> None:
    settings = Settings(db=store.url, housekeeping_batch=400, housekeeping_batch_sqlite=50)
    keeper = Housekeeper.from_settings(store, settings)

    assert keeper.duty_cycle == settings.housekeeping_duty_cycle == 0.1
    assert keeper.batch == (50 if store.dialect == "sqlite" else 400)
    with pytest.raises(ValueError, match="duty_cycle"):
        Housekeeper(store, RetentionPolicy(), duty_cycle=0)
