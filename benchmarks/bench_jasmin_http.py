"""Single sends against Jasmin's HTTP ``/send`` on the same machine, in the same run.

    .venv/bin/python -m benchmarks.bench_jasmin_http [--rounds 3] [--seconds 4]

Jasmin's fastest path is its ``perf`` user: ``GET /send`` accepts the message and queues
it in RabbitMQ, nothing more.  Against it, wrk (64 connections) drives the same message
into Trebuchet's **default start** (engine on, sandbox carrier, the default process
topology), which also delivers every message it accepts; and, as a second row, into
Trebuchet with the engine off (accept and store only, the closer match to what Jasmin
does).  Rounds alternate between Jasmin and Trebuchet; ratios are medians.  Skipped (one
row saying why) when the peer cannot start here.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from benchmarks import bench_smpp
from benchmarks.bench_topology import NUMBERS, Shape, default_shape, served
from benchmarks.common import Row, median, sqlite_database
from benchmarks.processes import create_user
from benchmarks.wrk import run_wrk

TARGET = 3.0
JASMIN_HTTP = "http://127.0.0.1:1401/send"
TEXT = "Your code is 4417"


def _jasmin_url() -> str:
    query = {"username": "perf", "password": "perfpwd", "to": NUMBERS[1].lstrip("+"),
             "from": NUMBERS[0].lstrip("+"), "content": TEXT}  # fmt: skip
    return f"{JASMIN_HTTP}?{urlencode(query)}"


def _ratio(
    db: str, shape: Shape, *, rounds: int, seconds: float, **extra: str
) -> tuple[float, float, float]:
    account = create_user(db, NUMBERS)
    body = json.dumps({"from": NUMBERS[0], "to": NUMBERS[1], "text": TEXT})
    jasmin = _jasmin_url()
    ratios, ours, theirs = [], [], []
    with served(db, shape, **extra) as (base, _):
        path = f"{base}/v1/users/{account.user_id}/messages"
        run_wrk(path, body, account.auth, seconds=1)  # warm caches and the pool
        run_wrk(jasmin, "", None, seconds=1, method="GET")
        for _ in range(rounds):
            ref = run_wrk(jasmin, "", None, seconds=seconds, method="GET")
            our = run_wrk(path, body, account.auth, seconds=seconds)
            if our.non_2xx or ref.non_2xx:
                raise RuntimeError(f"failed sends: {our.non_2xx} ours, {ref.non_2xx} Jasmin's")
            ours.append(our.requests_per_s)
            theirs.append(ref.requests_per_s)
            ratios.append(our.requests_per_s / ref.requests_per_s)
    return median(ratios), median(ours), median(theirs)


def jasmin_http(work: Path, *, rounds: int, seconds: float) -> list[Row]:
    """The rows, or one saying why the peer could not start."""
    with bench_smpp.running_peer() as reason:
        if reason is not None:
            print(f"    Jasmin peer unavailable, HTTP comparison skipped: {reason}")
            return [Row("single send vs Jasmin HTTP /send", "skipped", "-", None, reason[:80])]
        return _rows(work, rounds=rounds, seconds=seconds)


def _rows(work: Path, *, rounds: int, seconds: float) -> list[Row]:
    shape = default_shape()
    rows = []
    for label, extra in (("default start", {}), ("engine off", {"engine": "false"})):
        db = sqlite_database(work, f"jasmin-{label.replace(' ', '-')}.db")
        ratio, ours, theirs = _ratio(db, shape, rounds=rounds, seconds=seconds, **extra)
        default = label == "default start"
        rows.append(Row(
            f"single send vs Jasmin HTTP /send, {label}, SQLite",
            f"{ratio:.2f}x Jasmin", f">= {TARGET:g}x" if default else "report",
            ratio >= TARGET if default else None,
            f"median of {rounds} alternating runs; {ours:,.0f} vs {theirs:,.0f} req/s "
            "(Jasmin 0.11.0, user perf: accept and queue)",
            shape.label if default else f"{shape.api} API, engine off",
        ))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trebuchet-jasmin-http-") as tmp:
        for row in jasmin_http(Path(tmp), rounds=args.rounds, seconds=args.seconds):
            print(f"{row.benchmark} [{row.topology}]: {row.measured} ({row.detail})")


if __name__ == "__main__":
    main()
