"""On PostgreSQL, a cancel that meets a claim holding the message's row waits for it and
then sees what the claim did: the message it took is not cancelled."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.conftest import Harness
from tests.engine.conftest import Bench
from trebuchet.server.domain.times import now_us
from trebuchet.server.store.delivery import CancelOutcome

pytestmark = pytest.mark.parametrize(
    "store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def test_a_cancel_waits_for_the_claim_holding_the_row(bench: Bench, harness: Harness) -> None:
    user = await bench.user(["+15550001111"])
    message_id = await bench.send(user, **{"from": "+15550001111", "to": "+15557654321",
                                           "text": "x"})  # fmt: skip
    delivery = bench.engine.delivery
    now = now_us()
    async with harness.store.write() as conn:  # the claim's transaction, row locked
        await conn.execute(text("SELECT id FROM messages WHERE id = :id FOR UPDATE"),
                           {"id": message_id})  # fmt: skip
        cancelling = asyncio.create_task(delivery.cancel(user.user_id, message_id))
        await asyncio.sleep(0.2)  # let the cancel reach the lock
        assert not cancelling.done()  # it waits for the claim
        await conn.execute(
            text("UPDATE messages SET state = 'sending', lease_owner = 'w-1', "
                 "lease_until_us = :until WHERE id = :id"),
            {"id": message_id, "until": now + 60_000_000},
        )  # fmt: skip
    done = await asyncio.wait_for(cancelling, 10)
    assert done.outcome == CancelOutcome.TOO_LATE
    assert done.row is not None and done.row["state"] == "sending"
