"""``serve``'s process topology: single sends and end to end, per shape of processes.

    .venv/bin/python -m benchmarks.bench_topology [--quick] [--no-postgres] [--shapes 1x0,2x1]

For each topology (``A x W``: A API processes, W delivery processes; ``1x0`` is the one
process of before) on SQLite and PostgreSQL:

* single sends with wrk against the default start (engine on, sandbox carrier) next to a
  bare Starlette app answering 201 in one process, alternating, median of the ratios;
* the CPU those sends cost, summed over every process of the server (the supervisor and
  its children, from ``/proc``), from the first request until the engine has delivered
  them all and the server is idle again, per accepted message;
* end to end (``bench_e2e``): a burst's rate, then p50/p99 at half that rate, and the CPU
  per message of the burst the same way.

Every loop is bounded; the load stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks import bench_e2e
from benchmarks.common import (
    PG_BACKGROUND,
    Row,
    median,
    postgres_available,
    postgres_database,
    proc_stat,
    sqlite_database,
)
from benchmarks.processes import create_user, reference_server, trebuchet_server, wait_healthy
from benchmarks.wrk import ensure_wrk, run_wrk
from trebuchet.server.serving.topology import DEFAULT_WORKER_PROCESSES, default_api_processes

NUMBERS = ("+15550100001", "+15550100002")
IDLE_CPU_SECONDS = 0.02  # CPU in half a second below which the server counts as idle
SINGLE_TARGET = 0.6
# Three times the single process's end-to-end rate on this machine before the split
# (1,114 msg/s, BENCHMARKS.md of 2026-11-27), and p99 under 100 ms at half that rate.
E2E_TARGET = 3_300
P99_TARGET_MS = 100.0


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """``_stat`` of ``root`` and of every live process below it, read in one pass."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat
    members = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return {pid: parents[pid] for pid in members if pid in parents}


def descendants(root: int) -> set[int]:
    """``root`` and every live process below it."""
    return set(_tree(root))


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant."""
    return sum(cpu for _, cpu in _tree(root).values())


def _pg_pids(db: str) -> list[int]:
    """PostgreSQL's processes serving ``db`` (its connections) and its background writers."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(db)

    async def pids() -> list[int]:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password,
            database=url.database, timeout=5,
        )  # fmt: skip
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE (datname = $1 AND pid <> "
                "pg_backend_pid()) OR backend_type = ANY($2::text[])",
                url.database, list(PG_BACKGROUND),
            )  # fmt: skip
        finally:
            await conn.close()
        return [int(row["pid"]) for row in rows]

    return asyncio.run(pids())


class DatabaseCpu:
    """CPU seconds PostgreSQL spends for ``db`` between :meth:`start` and :meth:`spent`
    (it runs on this machine: read from ``/proc``); always 0 for SQLite, whose work is
    in the server's own processes."""

    def __init__(self, db: str):
        self.postgres = db.startswith("postgresql")
        self.db = db
        self._before: dict[int, float] = {}

    def _cpu(self) -> dict[int, float]:
        if not self.postgres:
            return {}
        return {pid: stat[1] for pid in _pg_pids(self.db) if (stat := proc_stat(pid)) is not None}

    def start(self) -> None:
        self._before = self._cpu()

    def spent(self) -> float:
        """Since :meth:`start`; a connection opened since counts whole, one closed since
        is missed (the server's pools keep theirs)."""
        return sum(cpu - self._before.get(pid, 0.0) for pid, cpu in self._cpu().items())


def wait_idle(root: int, limit: float = 120.0) -> float:
    """Wait (bounded) until the server tree stops using CPU; answers its CPU seconds."""
    deadline = time.monotonic() + limit
    before = tree_cpu(root)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(root)
        if now - before < IDLE_CPU_SECONDS:
            return now
        before = now
    return before


@dataclass(frozen=True)
class Shape:
    api: int
    workers: int

    @property
    def label(self) -> str:
        return (
            f"{self.api} API + {self.workers} delivery"
            if self.workers
            else (
                "1 process (API + delivery)"
                if self.api == 1
                else f"{self.api} API, delivery inside"
            )
        )

    def settings(self) -> dict[str, str]:
        return {"api_processes": str(self.api), "worker_processes": str(self.workers)}


def default_shape() -> Shape:
    """The processes ``trebuchet serve`` starts on this machine when none are set."""
    return Shape(default_api_processes(), DEFAULT_WORKER_PROCESSES)


@contextmanager
def served(db: str, shape: Shape, **extra: str) -> Iterator[tuple[str, int]]:
    with trebuchet_server(db, **shape.settings(), **extra) as (base, pid):
        time.sleep(3.0)  # every API process up, not only the first
        for _ in range(8):  # new connections, spread by the kernel over the processes
            wait_healthy(base)
        yield base, pid


def single_send(db: str, shape: Shape, *, rounds: int, seconds: float) -> dict[str, float]:
    account = create_user(db, NUMBERS)
    body = json.dumps({"from": NUMBERS[0], "to": "+15550109999", "text": "Your code is 4417"})
    ratios, ours, refs, cpu_us, db_us = [], [], [], [], []
    database = DatabaseCpu(db)
    with ExitStack() as stack:
        ref_url = stack.enter_context(reference_server(1))
        url, pid = stack.enter_context(served(db, shape))
        ref_path = f"{ref_url}/v1/users/{account.user_id}/messages"
        our_path = f"{url}/v1/users/{account.user_id}/messages"
        run_wrk(our_path, body, account.auth, seconds=1)  # warm caches and the pool
        wait_idle(pid)
        for _ in range(rounds):  # alternate so drift on a shared machine hits both alike
            ref = run_wrk(ref_path, body, None, seconds=seconds)
            database.start()
            start = tree_cpu(pid)
            our = run_wrk(our_path, body, account.auth, seconds=seconds)
            end = wait_idle(pid)  # the engine delivers what was accepted
            db_us.append(database.spent() * 1e6 / (our.requests_per_s * seconds))
            if our.non_2xx:
                raise RuntimeError(f"{our.non_2xx} sends failed")
            refs.append(ref.requests_per_s)
            ours.append(our.requests_per_s)
            ratios.append(our.requests_per_s / ref.requests_per_s)
            cpu_us.append((end - start) * 1e6 / (our.requests_per_s * seconds))
    return {
        "ratio": median(ratios),
        "ours": median(ours),
        "ref": median(refs),
        "cpu_us": median(cpu_us),
        "db_us": median(db_us),
    }


def end_to_end(db: str, shape: Shape, *, burst: int, paced_s: float) -> dict[str, float]:
    account = create_user(db, bench_e2e.NUMBERS)
    database = DatabaseCpu(db)
    with served(db, shape, outbound_allow_loopback="true") as (base, pid):
        database.start()
        start = tree_cpu(pid)
        throughput, latencies, sent, rate = asyncio.run(
            bench_e2e.run(base, account.user_id, account.auth, burst, paced_s)
        )
        end = wait_idle(pid)
        db_seconds = database.spent()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return {
        "rate": throughput,
        "p50": median(latencies) if latencies else float("nan"),
        "p99": p99,
        "paced": rate,
        "cpu_us": (end - start) * 1e6 / (burst + sent),
        "db_us": db_seconds * 1e6 / (burst + sent),
    }


def _cpu_text(measured: dict[str, float]) -> str:
    text = f"{measured['cpu_us']:,.0f} µs server CPU per message, all processes"
    if measured["db_us"]:
        text += f", + {measured['db_us']:,.0f} µs PostgreSQL's"
    return text


def send_row(db: str, label: str, shape: Shape, *, rounds: int, seconds: float) -> Row:
    r = single_send(db, shape, rounds=rounds, seconds=seconds)
    return Row(
        f"single send, default start, {label}",
        f"{r['ratio']:.2f} of bare app",
        f">= {SINGLE_TARGET}",
        r["ratio"] >= SINGLE_TARGET,
        f"median of {rounds} alternating runs; {r['ours']:,.0f} vs {r['ref']:,.0f} req/s; "
        f"engine on (sandbox), delivering all it accepts: {_cpu_text(r)}",
        shape.label,
    )


def e2e_rows(db: str, label: str, shape: Shape, *, burst: int, paced_s: float) -> list[Row]:
    e = end_to_end(db, shape, burst=burst, paced_s=paced_s)
    cpu = _cpu_text(e)
    return [
        Row(
            f"end to end (send -> sandbox -> sent callback), {label}",
            f"{e['rate']:,.0f} messages/s",
            f">= {E2E_TARGET:,}",
            e["rate"] >= E2E_TARGET,
            f"burst of {burst:,}, time until the last callback; {cpu} (burst and paced run)",
            shape.label,
        ),
        Row(
            f"end to end latency at half rate, {label}",
            f"p50 {e['p50']:.0f} ms, p99 {e['p99']:.0f} ms",
            f"p99 < {P99_TARGET_MS:g} ms",
            e["p99"] < P99_TARGET_MS,
            f"{paced_s:g} s paced at {e['paced']:,.0f}/s",
            shape.label,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--shapes", default="1x0,1x1,2x1")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--burst", type=int, default=20_000, help="end-to-end burst size")
    parser.add_argument(
        "--paced",
        type=float,
        default=8.0,
        help="seconds of the paced run after the burst (0: none)",
    )
    args = parser.parse_args()
    ensure_wrk()
    shapes = [Shape(*map(int, s.split("x"))) for s in args.shapes.split(",")]
    rounds, seconds, burst, paced = (
        (1, 1.0, 500, 1.0) if args.quick else (3, 4.0, args.burst, args.paced)
    )
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="trebuchet-topology-") as tmp:
        work = Path(tmp)
        backends = ["SQLite"]
        if not args.no_postgres and postgres_available():
            backends.append("PostgreSQL")
        for label in backends:
            for shape in shapes:
                name = f"{shape.api}x{shape.workers}"
                with ExitStack() as stack:

                    def database(kind: str, label: str = label, name: str = name) -> str:
                        if label == "SQLite":
                            return sqlite_database(work, f"{kind}-{name}.db")
                        return str(stack.enter_context(postgres_database()))

                    if not args.skip_send:
                        r = single_send(database("send"), shape, rounds=rounds, seconds=seconds)
                        print(
                            f"| single send, {label} | {shape.label} | {cores} | "
                            f"{r['ratio']:.2f} of bare app | {r['ours']:,.0f} vs "
                            f"{r['ref']:,.0f} req/s | {_cpu_text(r)} |",
                            flush=True,
                        )
                    if not args.skip_e2e:
                        e = end_to_end(database("e2e"), shape, burst=burst, paced_s=paced)
                        print(
                            f"| end to end, {label} | {shape.label} | {cores} | "
                            f"{e['rate']:,.0f} msg/s | p50 {e['p50']:.0f} ms, p99 "
                            f"{e['p99']:.0f} ms at {e['paced']:,.0f}/s | {_cpu_text(e)} |",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
