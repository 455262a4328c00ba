"""Accepting messages with the engine off: single sends against a bare 201 app, and bulk
sends of 50.  The default start (engine on) is measured by ``bench_topology``."""

from __future__ import annotations

import json

from benchmarks.common import Row, median
from benchmarks.processes import create_user, reference_server, trebuchet_server
from benchmarks.wrk import run_wrk

NUMBERS = ("+15550100001", "+15550100002")
BULK_TARGET = 100_000


def _message(i: int = 0) -> dict[str, str]:
    return {"from": NUMBERS[0], "to": NUMBERS[1], "text": f"Your code is {4417 + i}"}


def single_send(db: str, label: str, *, rounds: int, seconds: float) -> Row:
    """One server process each, for Trebuchet and for the reference."""
    account = create_user(db, NUMBERS)
    body = json.dumps(_message())
    ratios, ours, refs = [], [], []
    with (
        reference_server(1) as ref_url,
        trebuchet_server(db, engine="false", api_processes="1") as (url, _),
    ):
        ref_path = f"{ref_url}/v1/users/{account.user_id}/messages"
        our_path = f"{url}/v1/users/{account.user_id}/messages"
        run_wrk(our_path, body, account.auth, seconds=1)  # warm caches and the pool
        for _ in range(rounds):  # alternate so drift on a shared machine hits both alike
            ref = run_wrk(ref_path, body, None, seconds=seconds)
            our = run_wrk(our_path, body, account.auth, seconds=seconds)
            if our.non_2xx:
                raise RuntimeError(f"{our.non_2xx} sends failed")
            refs.append(ref.requests_per_s)
            ours.append(our.requests_per_s)
            ratios.append(our.requests_per_s / ref.requests_per_s)
    ratio = median(ratios)
    return Row(
        f"single send, accept only, {label}",
        f"{ratio:.2f} of bare app",
        "report",
        None,
        f"median of {rounds} alternating runs; {median(ours):,.0f} vs {median(refs):,.0f} req/s"
        "; reference app with 1 process too",
        "1 API, engine off",
    )


def bulk_send(db: str, label: str, *, seconds: float) -> Row:
    account = create_user(db, NUMBERS)
    body = json.dumps([_message(i) for i in range(50)])
    with trebuchet_server(db, engine="false") as (url, _):
        path = f"{url}/v1/users/{account.user_id}/messages"
        run_wrk(path, body, account.auth, seconds=1, connections=16)
        result = run_wrk(path, body, account.auth, seconds=seconds, connections=16)
    if result.non_2xx:
        raise RuntimeError(f"{result.non_2xx} bulk sends failed")
    per_s = result.requests_per_s * 50
    return Row(
        f"bulk send (50/request), {label}",
        f"{per_s:,.0f} messages/s",
        f">= {BULK_TARGET:,}" if label == "SQLite" else "report",
        per_s >= BULK_TARGET if label == "SQLite" else None,
        f"{result.requests_per_s:,.0f} req/s, p99 {result.p99_ms:.1f} ms",
        "1 API, engine off",
    )
