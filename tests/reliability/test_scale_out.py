"""Several API processes and workers on one PostgreSQL database.

The API processes run with their engine off and the workers do all the sending, the
layout docs/scaling.md recommends: API processes then scale with requests, workers with
messages, and neither holds state the others need.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import api_rate_limit, scale_out, sender_rate

pytestmark = pytest.mark.postgres

MESSAGES = 20_000


@pytest.mark.slow
async def test_every_message_is_sent_once_across_three_apis_and_three_workers(
    postgres_url: str, work_dir: Path
) -> None:
    run = await scale_out(postgres_url, work_dir, count=MESSAGES, within=150)
    ledger = run.ledger
    assert run.submission.given_up == 0 and run.submission.statuses.keys() == {202}
    assert ledger.accepted == MESSAGES
    assert ledger.lost == 0 and ledger.unfinished == [] and ledger.dangling_leases == []
    assert ledger.never_sent == [], f"{len(ledger.never_sent)} messages never reached the carrier"
    assert ledger.duplicate_sends == 0, "a message reached the carrier twice without a fault"
    assert ledger.attempts == {1: MESSAGES}
    assert ledger.multi_state_events == [] and ledger.sent_events == MESSAGES
    assert ledger.events_missing == [], f"{len(ledger.events_missing)} events never arrived"
    assert len(run.sends_by_pid) == 3, "every worker should have taken a share"
    assert min(run.sends_by_pid.values()) > MESSAGES / 10


async def test_sender_rate_holds_across_worker_processes(postgres_url: str, work_dir: Path) -> None:
    rate, count = 10.0, 40
    spacing = await sender_rate(postgres_url, work_dir, rate=rate, count=count)
    assert spacing.messages == count and spacing.ledger.lost == 0
    assert spacing.worker_pids >= 2, "the sends should come from several workers"
    # Slots are reserved in the store, so three workers share one rate: the slots handed
    # out are one interval apart whichever worker asked, and no message reaches the carrier
    # before its slot.  How long after its slot a message goes depends on how busy the
    # machine is, so the hand-offs are bounded by the slots rather than by the wall clock.
    assert len(spacing.slots) >= count, "every message waits for a slot of its own"
    assert spacing.closest_slots >= round(1_000_000 / rate)
    assert spacing.busiest_slot_second <= rate
    assert spacing.early_sends == [], "messages were handed over before their slots"


async def test_api_rate_limit_is_shared_through_redis(
    postgres_url: str, work_dir: Path, redis_url: str
) -> None:
    shared = await api_rate_limit(
        postgres_url, work_dir / "redis", backend="redis", redis_url=redis_url
    )
    assert shared.allowed >= shared.burst
    assert shared.allowed <= shared.ceiling + 1, "three processes each applied their own limit"
    assert shared.bodies and shared.bodies[0]["category"] == "too-many-requests"
    # The same traffic against per-process (memory) limiters gets about three times as
    # far, which is what the shared limit prevents.
    alone = await api_rate_limit(postgres_url, work_dir / "memory", backend="memory")
    assert alone.allowed > shared.ceiling + 1
