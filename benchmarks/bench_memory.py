"""Server memory over a long run: RSS after warm-up against RSS at the end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from benchmarks.common import Row
from benchmarks.loadgen import post_load
from benchmarks.processes import create_user, trebuchet_server

TARGET = 1.10
NUMBERS = ("+15550100001", "+15550100002")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory(db: str, *, messages: int, max_seconds: float) -> Row:
    account = create_user(db, NUMBERS)
    body = json.dumps(
        [{"from": NUMBERS[0], "to": NUMBERS[1], "text": f"Memory run {i}"} for i in range(50)]
    ).encode()
    requests = messages // 50
    samples: list[tuple[int, int]] = []
    # One process (API and engine together), so that ``pid``'s RSS is the whole server's.
    with trebuchet_server(db, api_processes="1", worker_processes="0") as (base, pid):
        url = f"{base}/v1/users/{account.user_id}/messages"
        step = max(requests // 20, 1)

        def sample(done: int) -> None:
            if done % step == 0:
                samples.append((done * 50, rss_kib(pid)))

        result = asyncio.run(
            post_load(
                url,
                body,
                account.auth,
                requests=requests,
                concurrency=16,
                max_seconds=max_seconds,
                expect=202,
                on_progress=sample,
            )
        )
        samples.append((result.sent * 50, rss_kib(pid)))
    if result.failed:
        raise RuntimeError(f"{result.failed} bulk requests failed")
    sent = result.sent * 50
    warm = next(rss for done, rss in samples if done >= sent // 10)
    peak_after = max(rss for done, rss in samples if done >= sent // 10)
    ratio = peak_after / warm
    return Row(
        f"server RSS over {sent:,} messages",
        f"{ratio:.2f}x after warm-up",
        f"<= {TARGET}x",
        ratio <= TARGET,
        f"{warm / 1024:.0f} MiB at 10% -> {peak_after / 1024:.0f} MiB peak; engine on; "
        f"{sent / result.seconds:,.0f} msg/s accepted",
    )
