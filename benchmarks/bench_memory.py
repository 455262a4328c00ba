"""Server memory over a long run: RSS after warm-up against RSS at the end.

The server runs in its default shape (API processes and a delivery process); its RSS is
the sum over the supervisor and every child, sampled as the messages go in.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from benchmarks.bench_topology import default_shape, descendants
from benchmarks.common import Row
from benchmarks.loadgen import post_load
from benchmarks.processes import create_user, trebuchet_server

TARGET = 1.10
NUMBERS = ("+15550100001", "+15550100002")


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` (0 when it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)


def tree_rss_kib(root: int) -> tuple[int, int]:
    """(summed VmRSS, processes) of ``root`` and its descendants."""
    members = descendants(root)
    return sum(rss_kib(pid) for pid in members), len(members)


def memory(db: str, *, messages: int, max_seconds: float) -> Row:
    account = create_user(db, NUMBERS)
    body = json.dumps(
        [{"from": NUMBERS[0], "to": NUMBERS[1], "text": f"Memory run {i}"} for i in range(50)]
    ).encode()
    requests = messages // 50
    samples: list[tuple[int, int]] = []
    shape = default_shape()
    processes = 0
    with trebuchet_server(db, **shape.settings()) as (base, pid):
        url = f"{base}/v1/users/{account.user_id}/messages"
        step = max(requests // 20, 1)

        def sample(done: int) -> None:
            nonlocal processes
            if done % step == 0:
                rss, processes = tree_rss_kib(pid)
                samples.append((done * 50, rss))

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
        samples.append((result.sent * 50, tree_rss_kib(pid)[0]))
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
        f"{warm / 1024:.0f} MiB at 10% -> {peak_after / 1024:.0f} MiB peak, summed over "
        f"{processes} processes; engine on; {sent / result.seconds:,.0f} msg/s accepted",
        shape.label,
    )
