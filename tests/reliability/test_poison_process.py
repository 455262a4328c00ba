"""A row that kills the process handling it (no exception: the process is gone) is not
claimed forever: each claim counts, a row claimed past the crash bound without ever
finishing is parked with ``processing-abandoned``, and the other messages are sent.

Real processes: ``trebuchet serve`` takes the messages, ``trebuchet worker`` sends them
through the sandbox carrier, which exits the process at once for one message's text
(``tests/reliability/launch.py``).  Each dead worker is replaced, as a supervisor would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.reliability.cluster import FROM, TO, Cluster, create_account, outcome, pending, submit
from tests.reliability.launch import KILL_TEXT, KILLED_EXIT

POISON = "this message kills its worker"
MAX_CRASHES = 2
OTHERS = 8


async def test_a_message_that_kills_its_worker_is_parked_and_the_rest_are_sent(
    sqlite_url: str, work_dir: Path
) -> None:
    account = await create_account(sqlite_url)
    items = [{"from": FROM, "to": TO, "text": f"m{index}"} for index in range(OTHERS)]
    items.insert(OTHERS // 2, {"from": FROM, "to": TO, "text": POISON})
    with Cluster(
        sqlite_url, work_dir, lease_seconds=1.0, crash_max_attempts=MAX_CRASHES
    ) as cluster:
        cluster.env[KILL_TEXT] = POISON
        api = cluster.serve()
        await cluster.ready(api)
        submitted = await submit([api.base_url], account, items, deadline_seconds=30)
        assert len(submitted.accepted) == OTHERS + 1

        deaths = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            worker = cluster.worker()
            while worker.process.poll() is None and await pending(sqlite_url, account.user_id) != (
                0,
                0,
            ):
                assert time.monotonic() < deadline, cluster.logs()
                await asyncio.sleep(0.2)
            if worker.process.poll() is None:
                break  # everything is final, and this worker is alive
            assert worker.process.returncode == KILLED_EXIT, cluster.logs()
            deaths += 1
            assert deaths <= MAX_CRASHES, f"claimed again after {deaths} deaths"
        else:
            raise AssertionError(f"not settled in time:\n{cluster.logs()}")
        sent_by_carrier = {sent.message_id for sent in cluster.sends()}

        async with httpx.AsyncClient(base_url=api.base_url, auth=account.auth) as http:
            errors = (await http.get(f"/v1/users/{account.user_id}/errors")).json()
            listed = (await http.get(account.messages_path, params={"size": 100})).json()

    # The poison took its worker down exactly as often as the bound allows, no more.
    assert deaths == MAX_CRASHES
    by_text = {message["text"]: message for message in listed}
    poison_id = by_text[POISON]["id"]
    assert by_text[POISON]["state"] == "error"
    others = [by_text[f"m{index}"] for index in range(OTHERS)]
    assert {message["state"] for message in others} == {"sent"}
    assert sent_by_carrier == {message["id"] for message in others}
    [parked] = [error for error in errors if error["code"] == "processing-abandoned"]
    assert poison_id in parked["message"] and "parked" in parked["message"]
    details = {detail["name"]: detail["value"] for detail in parked["details"]}
    assert details["messageId"] == poison_id
    assert "without finishing" in details["error"]
    final = await outcome(sqlite_url, account.user_id)
    assert final.unfinished() == []
