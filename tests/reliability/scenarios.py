"""The scale-out and fault scenarios, each run against real processes.

Every scenario returns what it measured; the tests in this folder assert on it and
``python -m benchmarks.reliability`` prints it.  None of them asserts by itself except
that its processes started.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.cluster import (
    Account,
    Cluster,
    EventReceiver,
    Ledger,
    Submission,
    create_account,
    event_receiver,
    ledger,
    messages,
    outcome,
    settle,
    submit,
)


@dataclass
class Run:
    """What a run of messages through a cluster came to."""

    name: str
    messages: int
    api_processes: int
    workers: int
    submission: Submission
    ledger: Ledger
    seconds: float  # first request to the last callback
    sends_by_pid: Counter[int] = field(default_factory=Counter)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ledger.final / self.seconds if self.seconds else 0.0


async def _finish(
    name: str,
    cluster: Cluster,
    account: Account,
    receiver: EventReceiver,
    submission: Submission,
    started: float,
    *,
    within: float,
    apis: int,
    workers: int,
) -> Run:
    await settle(
        cluster.db, account, receiver, expected_events=len(submission.accepted), within=within
    )
    seconds = time.monotonic() - started
    found = await outcome(cluster.db, account.user_id)
    sent = cluster.sends()
    return Run(
        name=name,
        messages=len(submission.accepted),
        api_processes=apis,
        workers=workers,
        submission=submission,
        ledger=ledger(submission.accepted, found, sent, receiver),
        seconds=seconds,
        sends_by_pid=Counter(s.pid for s in sent),
    )


# -- scale-out ----------------------------------------------------------------------------


async def scale_out(
    db: str,
    work_dir: Path,
    *,
    count: int = 20_000,
    apis: int = 3,
    workers: int = 3,
    within: float = 150.0,
) -> Run:
    """``apis`` API processes (engine off) and ``workers`` workers on one database."""
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir) as cluster:
            api = [cluster.serve() for _ in range(apis)]
            work = [cluster.worker() for _ in range(workers)]
            await cluster.ready(*api, *work)
            started = time.monotonic()
            submission = await submit(
                [p.base_url for p in api],
                account,
                messages(count, receiver.url),
                deadline_seconds=within,
            )
            remaining = within - (time.monotonic() - started)
            return await _finish(
                "scale-out",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=remaining,
                apis=apis,
                workers=workers,
            )


# -- rate limits across processes --------------------------------------------------------


@dataclass
class SenderSpacing:
    rate: float
    messages: int
    span: float  # first send to last
    busiest_second: int  # most sends in any one-second window
    worker_pids: int  # how many workers sent them
    closest_gap: float  # smallest gap between consecutive sends
    ledger: Ledger
    slots: list[int] = field(default_factory=list)  # reserved slot starts, microseconds
    early_sends: list[int] = field(default_factory=list)  # see :func:`early_sends`

    @property
    def closest_slots(self) -> int:
        """The smallest gap between two reserved slots, in microseconds."""
        return min((b - a for a, b in itertools.pairwise(self.slots)), default=0)

    @property
    def busiest_slot_second(self) -> int:
        """Most slots starting in any one-second window."""
        return busiest_window([float(slot) for slot in self.slots], 1_000_000.0)


def early_sends(times: list[float], slots: list[int]) -> list[int]:
    """The ranks ``k`` at which the k-th hand-off came before the k-th reserved slot.

    Every message waits for a slot of its own before it is handed over, so the k-th
    hand-off can never come before the k-th slot: none may be listed.  (How long after its
    slot a message is handed over depends on how busy the machine is.)
    """
    return [
        rank
        for rank, (at, slot) in enumerate(zip(times, slots, strict=False))
        if at < slot / 1_000_000 - SLOT_CLOCK_SLACK
    ]


# Send times are journalled as seconds with six decimals, slots as whole microseconds.
SLOT_CLOCK_SLACK = 0.001


def busiest_window(times: list[float], window: float = 1.0) -> int:
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


async def sender_rate(
    db: str,
    work_dir: Path,
    *,
    rate: float = 10.0,
    count: int = 40,
    apis: int = 3,
    workers: int = 3,
) -> SenderSpacing:
    """``sender_rate`` for one number, shared by ``workers`` worker processes."""
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, sender_rate=rate) as cluster:
            api = [cluster.serve() for _ in range(apis)]
            work = [cluster.worker() for _ in range(workers)]
            await cluster.ready(*api, *work)
            started = time.monotonic()
            submission = await submit(
                [p.base_url for p in api], account, messages(count, receiver.url), bulk=5
            )
            run = await _finish(
                "sender-rate",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=count / rate + 30,
                apis=apis,
                workers=workers,
            )
            times = [s.at for s in cluster.sends()]
            slots = cluster.slots()
    return SenderSpacing(
        rate=rate,
        messages=len(times),
        span=times[-1] - times[0] if times else 0.0,
        busiest_second=busiest_window(times),
        worker_pids=len(run.sends_by_pid),
        closest_gap=min((b - a for a, b in itertools.pairwise(times)), default=0.0),
        ledger=run.ledger,
        slots=slots,
        early_sends=early_sends(times, slots),
    )


@dataclass
class ApiLimit:
    backend: str
    rate: float
    burst: int
    api_processes: int
    requests: int
    allowed: int
    throttled: int
    seconds: float
    bodies: list[dict[str, Any]]

    @property
    def ceiling(self) -> float:
        """What one shared bucket lets through in ``seconds``."""
        return self.burst + self.rate * self.seconds


async def api_rate_limit(
    db: str,
    work_dir: Path,
    *,
    backend: str,
    redis_url: str | None = None,
    rate: float = 5.0,
    burst: int = 5,
    apis: int = 3,
    requests: int = 60,
    seconds: float = 2.0,
) -> ApiLimit:
    """Requests from one user spread evenly over ``apis`` processes for ``seconds``."""
    account = await create_account(db, numbers=())
    settings: dict[str, object] = {
        "limiter_backend": backend,
        "rate_limit_per_second": rate,
        "rate_limit_burst": burst,
    }
    if redis_url:
        settings["redis_url"] = redis_url
    statuses: Counter[int] = Counter()
    bodies: list[dict[str, Any]] = []
    with Cluster(db, work_dir, **settings) as cluster:
        api = [cluster.serve() for _ in range(apis)]
        await cluster.ready(*api)
        async with httpx.AsyncClient(auth=account.auth, timeout=5) as http:
            started = time.monotonic()
            for index in range(requests):
                await asyncio.sleep(
                    max(0.0, started + index * seconds / requests - time.monotonic())
                )
                base = api[index % apis].base_url
                response = await http.get(f"{base}{account.messages_path}")
                statuses[response.status_code] += 1
                if response.status_code == 429 and len(bodies) < 3:
                    bodies.append(response.json())
            elapsed = time.monotonic() - started
    return ApiLimit(
        backend, rate, burst, apis, requests, statuses[200], statuses[429], elapsed, bodies
    )


# -- faults -------------------------------------------------------------------------------


async def _sent_count(cluster: Cluster) -> int:
    return len(cluster.sends())


async def _wait_for_sends(cluster: Cluster, count: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while await _sent_count(cluster) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def postgres_restart(
    db: str,
    work_dir: Path,
    restart: Any,
    *,
    count: int = 4000,
    apis: int = 2,
    workers: int = 2,
) -> Run:
    """PostgreSQL restarted while messages are submitted, sent and called back.

    ``restart`` is a blocking callable that restarts the server (and raises if it cannot).
    """
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, lease_seconds=3) as cluster:
            api = [cluster.serve() for _ in range(apis)]
            work = [cluster.worker() for _ in range(workers)]
            await cluster.ready(*api, *work)
            started = time.monotonic()
            submitting = asyncio.create_task(
                submit(
                    [p.base_url for p in api],
                    account,
                    messages(count, receiver.url),
                    concurrency=4,
                    interval=8.0 / (count / 50),
                    deadline_seconds=90,
                )
            )
            try:
                await _wait_for_sends(cluster, count // 4)
                before = await _sent_count(cluster)
                down = time.monotonic()
                await asyncio.to_thread(restart)
                restart_seconds = time.monotonic() - down
            finally:
                submission = await submitting
            run = await _finish(
                "postgres-restart",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=90,
                apis=apis,
                workers=workers,
            )
            alive = all(p.process.poll() is None for p in cluster.procs)
    run.notes.update(
        restart_seconds=restart_seconds,
        sent_before_restart=before,
        processes_alive=alive,
        answers=dict(run.submission.statuses),
        error_bodies=run.submission.errors[:3],
    )
    return run


async def _leased_by(db: str, owner: str) -> list[str]:
    from sqlalchemy import select

    from trebuchet.server.store import Store
    from trebuchet.server.store import tables as t

    store = Store(db)
    await store.open(run_migrations=False)
    try:
        async with store.read() as conn:
            rows = await conn.execute(
                select(t.messages.c.id).where(t.messages.c.lease_owner == owner)
            )
            return [row.id for row in rows]
    finally:
        await store.close()


async def worker_kill(
    db: str,
    work_dir: Path,
    *,
    count: int = 3000,
    workers: int = 3,
    lease: float = 2.0,
) -> Run:
    """One of ``workers`` workers SIGKILLed while it holds claims; the others take them."""
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(
            db, work_dir, send_delay=0.05, lease_seconds=lease, send_concurrency=8
        ) as cluster:
            api = cluster.serve()
            work = [cluster.worker() for _ in range(workers)]
            await cluster.ready(api, *work)
            victim = work[0]
            owner = victim.owner()
            started = time.monotonic()
            submitting = asyncio.create_task(
                submit([api.base_url], account, messages(count, receiver.url), concurrency=4)
            )
            try:
                await _wait_for_sends(cluster, count // 3)
                deadline = time.monotonic() + 10
                while not await _leased_by(db, owner) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                cluster.kill(victim)
                killed_at = time.time()
                orphans = await _leased_by(db, owner)
            finally:
                submission = await submitting
            run = await _finish(
                "worker-kill",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=90,
                apis=1,
                workers=workers,
            )
            sent = cluster.sends()
    orphan_set = set(orphans)
    retaken = [s for s in sent if s.message_id in orphan_set and s.pid != victim.pid]
    run.notes.update(
        lease_seconds=lease,
        orphaned_claims=len(orphans),
        orphans_retaken=len({s.message_id for s in retaken}),
        retaken_after=min((s.at for s in retaken), default=killed_at) - killed_at,
        orphans_final=len(orphan_set - set(run.ledger.unfinished)),
    )
    return run


@dataclass
class StoreFault:
    """How the API answered while its SQLite store refused writes, and what was left."""

    name: str
    answers: dict[str, int]  # request -> status while the fault lasted
    bodies: dict[str, Any]
    accepted_before: int
    accepted_after: int
    stored: int  # outbound messages in the store at the end
    integrity: str
    run: Run | None = None
    notes: dict[str, Any] = field(default_factory=dict)


async def _probe(
    http: httpx.AsyncClient, base: str, account: Account, receiver_url: str
) -> tuple[dict[str, int], dict[str, Any]]:
    path = f"{base}{account.messages_path}"
    one = messages(1, receiver_url, tag="fault-")[0]
    answers: dict[str, int] = {}
    bodies: dict[str, Any] = {}
    requests = {
        "POST message": lambda: http.post(path, json=one),
        "POST bulk": lambda: http.post(path, json=messages(5, receiver_url, tag="fault-")),
        "GET messages": lambda: http.get(path),
        "GET /ready": lambda: http.get(f"{base}/ready"),
        "GET /health": lambda: http.get(f"{base}/health"),
    }
    for name, call in requests.items():
        try:
            response = await call()
        except httpx.TransportError as exc:
            answers[name] = 0  # no answer at all
            bodies[name] = f"{type(exc).__name__}: {exc}"
            continue
        answers[name] = response.status_code
        with contextlib.suppress(ValueError):
            bodies[name] = response.json()
    return answers, bodies


async def _integrity(db: str) -> tuple[str, int]:
    from sqlalchemy import func, select, text

    from trebuchet.server.store import Store
    from trebuchet.server.store import tables as t

    store = Store(db)
    await store.open(run_migrations=False)
    try:
        async with store.read() as conn:
            check = str(await conn.scalar(text("PRAGMA integrity_check")))
            stored = await conn.scalar(select(func.count()).where(t.messages.c.direction == "out"))
    finally:
        await store.close()
    return check, int(stored or 0)


async def store_fault(
    name: str,
    db: str,
    work_dir: Path,
    fault: Any,
    *,
    fill: int = 0,
) -> StoreFault:
    """A SQLite ``serve`` (engine on) whose store starts refusing writes mid-run.

    ``fault`` is an async context manager factory: entered, the store refuses writes;
    left, it is writable again.  With ``fill``, that many bulk requests are sent into the
    fault until one is refused (a full disk still has room for a while).
    """
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, lease_seconds=2) as cluster:
            api = cluster.serve(engine=True)
            await cluster.ready(api)
            before = await submit([api.base_url], account, messages(200, receiver.url))
            submission = Submission(accepted=list(before.accepted))
            async with httpx.AsyncClient(auth=account.auth, timeout=15) as http:
                async with fault():
                    refused_after = 0
                    for _ in range(fill):
                        batch = messages(50, receiver.url, tag="x" * 1500)
                        response = await http.post(
                            f"{api.base_url}{account.messages_path}", json=batch
                        )
                        if response.status_code != 202:
                            break
                        submission.accepted += [
                            i["location"].rsplit("/", 1)[1] for i in response.json()
                        ]
                        refused_after += 1
                    answers, bodies = await _probe(http, api.base_url, account, receiver.url)
                alive = api.process.poll() is None
                after = await submit([api.base_url], account, messages(200, receiver.url))
                ready_after = (await http.get(f"{api.base_url}/ready")).status_code
            submission.accepted += after.accepted
            started = time.monotonic()
            run = await _finish(
                name,
                cluster,
                account,
                receiver,
                submission,
                started,
                within=60,
                apis=1,
                workers=0,
            )
    integrity, stored = await _integrity(db)
    return StoreFault(
        name=name,
        answers=answers,
        bodies=bodies,
        accepted_before=len(before.accepted),
        accepted_after=len(after.accepted),
        stored=stored,
        integrity=integrity,
        run=run,
        notes={
            "server_alive": alive,
            "bulk_accepted_into_fault": refused_after,
            "ready_after": ready_after,
        },
    )


@dataclass
class Drain:
    name: str
    exit_code: int | None
    stop_seconds: float
    in_flight_at_signal: int
    left_leased: list[str]  # leases the stopped process still held afterwards
    sent_by_stopped: int
    run: Run
    notes: dict[str, Any] = field(default_factory=dict)


async def worker_drain(db: str, work_dir: Path, *, count: int = 60, delay: float = 0.5) -> Drain:
    """SIGTERM to a worker with sends in flight: they finish, it exits 0, no lease is left."""
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, send_delay=delay, send_concurrency=8) as cluster:
            api = cluster.serve()
            first = cluster.worker()
            await cluster.ready(api, first)
            owner = first.owner()
            started = time.monotonic()
            submission = await submit([api.base_url], account, messages(count, receiver.url))
            deadline = time.monotonic() + 10
            while not await _leased_by(db, owner) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            in_flight = len(await _leased_by(db, owner))
            stopping = time.monotonic()
            code = await cluster.terminate(first)
            stop_seconds = time.monotonic() - stopping
            left = await _leased_by(db, owner)
            sent_by_first = sum(1 for s in cluster.sends() if s.pid == first.pid)
            second = cluster.worker()
            await cluster.ready(second)
            run = await _finish(
                "worker-drain",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=60,
                apis=1,
                workers=2,
            )
    return Drain("worker", code, stop_seconds, in_flight, left, sent_by_first, run)


async def serve_drain(db: str, work_dir: Path, *, count: int = 300, delay: float = 0.2) -> Drain:
    """SIGTERM to ``serve`` (engine on) mid-run: requests and sends in flight finish."""
    account = await create_account(db)
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, send_delay=delay, send_concurrency=8) as cluster:
            api = cluster.serve(engine=True)
            port = api.port
            await cluster.ready(api)
            started = time.monotonic()
            submitting = asyncio.create_task(
                submit(
                    [api.base_url],
                    account,
                    messages(count, receiver.url),
                    concurrency=2,
                    interval=0.05,
                    deadline_seconds=60,
                )
            )
            try:
                await _wait_for_sends(cluster, 16)
                in_flight = len((await outcome(db, account.user_id)).leased())
                stopping = time.monotonic()
                code = await cluster.terminate(api)
                stop_seconds = time.monotonic() - stopping
                left = (await outcome(db, account.user_id)).leased()
                shutdown_log = api.tail()
                sent_by_first = sum(1 for s in cluster.sends() if s.pid == api.pid)
                restarted = cluster.serve(engine=True, port=port)
                await cluster.ready(restarted)
            finally:
                submission = await submitting
            run = await _finish(
                "serve-drain",
                cluster,
                account,
                receiver,
                submission,
                started,
                within=60,
                apis=1,
                workers=0,
            )
    drain = Drain("serve", code, stop_seconds, in_flight, left, sent_by_first, run)
    drain.notes["shutdown_log"] = shutdown_log
    return drain
