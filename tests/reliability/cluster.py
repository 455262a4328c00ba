"""A Trebuchet cluster as real processes, and what can be observed of it from outside.

* :class:`Cluster` starts ``trebuchet serve`` and ``trebuchet worker`` processes on one
  database (each with its own log file) and stops every one of them when its block ends,
  whatever happened: SIGTERM, then SIGKILL for any that will not go.
* Each process runs through :mod:`tests.reliability.launch`, which journals every message
  the sandbox carrier accepted and every send slot reserved; :meth:`Cluster.sends` and
  :meth:`Cluster.slots` read the journals back.
* :class:`EventReceiver` is a loopback HTTP server counting every callback by event id.
* :func:`submit` spreads bulk requests over several API processes, each with its own
  ``Idempotency-Key``, retrying transport errors and 5xx answers until a deadline.
* :func:`outcome` reads the messages and events back from the store.

Used by the tests in this folder and by ``python -m benchmarks.reliability``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import func, select

from tests.reliability.launch import JOURNAL_DIR, SEND_DELAY
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

ROOT = Path(__file__).resolve().parents[2]
FROM = "+15550001111"
TO = "+15557654321"
BULK = 50
FINAL_STATES = ("sent", "error")
STOP_SECONDS = 15.0
OWNER_LINE = re.compile(r"delivery worker (\S+) started")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes -------------------------------------------------------------------------


@dataclass
class Proc:
    kind: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        assert self.port is not None, "a worker has no port"
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def owner(self) -> str:
        """The lease owner name of a worker's send worker, from its start-up log line."""
        found = OWNER_LINE.search(self.log.read_text(errors="replace"))
        assert found, f"{self.kind} {self.pid} logged no owner:\n{self.tail()}"
        return found.group(1)


@dataclass
class Sent:
    message_id: str
    at: float
    pid: int


class Cluster:
    """Processes on one database; use as ``with Cluster(...) as cluster:``."""

    def __init__(
        self, db: str, work_dir: Path, *, send_delay: float = 0.0, **settings: object
    ) -> None:
        self.db = db
        self.work_dir = work_dir
        self.journal_dir = work_dir / f"journal-{uuid.uuid4().hex[:8]}"
        self.journal_dir.mkdir(parents=True)
        self.procs: list[Proc] = []
        defaults: dict[str, object] = {
            "demo_user": False,
            "access_log": False,
            "poll_interval": 0.05,
            # A dead worker's expired leases are found by polling even while LISTEN/NOTIFY
            # wakes the workers: the scenarios' bounds expect them as soon as before.
            "poll_interval_listening": 0.05,
            "outbound_allow_loopback": True,
            "media_dir": work_dir / "media",
            "db_pool_size": 5,
        }
        self.env = {
            **os.environ,
            "TREBUCHET_DB": db,
            JOURNAL_DIR: str(self.journal_dir),
            SEND_DELAY: str(send_delay),
            **{f"TREBUCHET_{k.upper()}": _env(v) for k, v in {**defaults, **settings}.items()},
        }

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def _start(self, kind: str, args: list[str], env: dict[str, str]) -> Proc:
        log_path = self.work_dir / f"{kind}-{len(self.procs)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.launch", kind, *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(kind, process, log_path)
        self.procs.append(proc)
        return proc

    def serve(self, *, engine: bool = False, port: int | None = None, **settings: object) -> Proc:
        """An API process; its engine is off unless asked for (workers send).

        One process, as the scenarios count processes themselves (``serve``'s own API and
        delivery children are tested in ``tests/server/test_serve_topology.py``).
        """
        env = {
            **self.env,
            "TREBUCHET_ENGINE": _env(engine),
            "TREBUCHET_API_PROCESSES": "1",
            "TREBUCHET_WORKER_PROCESSES": "0",
        }
        env |= {f"TREBUCHET_{k.upper()}": _env(v) for k, v in settings.items()}
        port = port or free_port()
        proc = self._start("serve", ["--port", str(port)], env)
        proc.port = port
        return proc

    def worker(self, **settings: object) -> Proc:
        env = self.env | {f"TREBUCHET_{k.upper()}": _env(v) for k, v in settings.items()}
        return self._start("worker", [], env)

    async def ready(self, *procs: Proc, within: float = 30.0) -> None:
        """Wait until each API answers ``/health`` and each worker has logged its start."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=1) as http:
            for proc in procs:
                while not await _is_up(proc, http):
                    if proc.process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"{proc.kind} {proc.pid} did not start:\n{proc.tail()}"
                        )
                    await asyncio.sleep(0.05)

    @staticmethod
    def kill(proc: Proc) -> None:
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait(10)

    @staticmethod
    async def terminate(proc: Proc, within: float = STOP_SECONDS) -> int | None:
        """SIGTERM, then wait (without blocking the loop) for the exit code; None if stuck."""
        proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + within
        while proc.process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return proc.process.poll()

    def stop_all(self) -> None:
        running = [p for p in self.procs if p.process.poll() is None]
        for proc in running:
            proc.process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for proc in running:
            try:
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.process.send_signal(signal.SIGUSR1)  # its stacks, into its log
                time.sleep(0.5)
                proc.process.kill()
                proc.process.wait(10)

    def sends(self) -> list[Sent]:
        """Every carrier hand-off journalled by any process, oldest first."""
        sent = []
        for path in sorted(self.journal_dir.glob("sends-*.log")):
            for line in path.read_text().splitlines():
                message_id, at, pid = line.split()
                sent.append(Sent(message_id, float(at), int(pid)))
        return sorted(sent, key=lambda s: s.at)

    def slots(self) -> list[int]:
        """The start (epoch microseconds) of every send slot any process reserved, in order."""
        return sorted(
            int(line.split()[1])
            for path in self.journal_dir.glob("slots-*.log")
            for line in path.read_text().splitlines()
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.kind} {p.pid}\n{p.tail()}" for p in self.procs)


def _env(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _is_up(proc: Proc, http: httpx.AsyncClient) -> bool:
    if proc.kind == "worker":
        return OWNER_LINE.search(proc.tail(100_000)) is not None
    try:
        return (await http.get(f"{proc.base_url}/health")).status_code == 200
    except httpx.TransportError:
        return False


# -- the callback receiver ----------------------------------------------------------------


@dataclass
class EventReceiver:
    """Counts every callback request by ``Trebuchet-Event-Id``."""

    base_url: str = ""
    deliveries: Counter[str] = field(default_factory=Counter)
    states: dict[str, tuple[str, str]] = field(default_factory=dict)  # event -> message, state

    @property
    def url(self) -> str:
        return f"{self.base_url}/events"

    @property
    def duplicates(self) -> int:
        return sum(self.deliveries.values()) - len(self.deliveries)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers.get("Trebuchet-Event-Id", "")
        self.deliveries[event_id] += 1
        if event_id not in self.states:
            payload = json.loads(body) if body else dict(request.query)
            self.states[event_id] = (payload.get("messageId", ""), payload.get("state", ""))
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def event_receiver() -> AsyncIterator[EventReceiver]:
    receiver = EventReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        receiver.base_url = f"http://127.0.0.1:{port}"
        yield receiver
    finally:
        await runner.cleanup()


# -- users and submissions --------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.token, self.secret)

    @property
    def messages_path(self) -> str:
        return f"/v1/users/{self.user_id}/messages"


async def create_account(db: str, numbers: Sequence[str] = (FROM,)) -> Account:
    store = Store(db)
    await store.open()
    try:
        created = await store.users.create(list(numbers))
    finally:
        await store.close()
    return Account(created.user.id, created.user.api_token, created.api_secret)


def messages(
    count: int, callback_url: str, *, sender: str = FROM, tag: str = ""
) -> list[dict[str, Any]]:
    return [
        {"from": sender, "to": TO, "text": f"{tag}m{index}", "callbackUrl": callback_url}
        for index in range(count)
    ]


@dataclass
class Submission:
    accepted: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, retries included
    errors: list[dict[str, Any]] = field(default_factory=list)  # bodies of 5xx answers
    transport_errors: int = 0
    given_up: int = 0  # batches never accepted before the deadline
    seconds: float = 0.0


async def submit(
    bases: Sequence[str],
    account: Account,
    items: Sequence[dict[str, Any]],
    *,
    concurrency: int = 12,
    deadline_seconds: float = 60.0,
    bulk: int = BULK,
    interval: float = 0.0,
) -> Submission:
    """POST ``items`` in bulk requests round-robin over ``bases``; retried until accepted.

    With ``interval``, batch ``i`` starts no sooner than ``i * interval`` seconds in, so a
    submission can be spread over a fault.
    """
    result = Submission()
    batches = [items[i : i + bulk] for i in range(0, len(items), bulk)]
    turn = itertools.cycle(bases)
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    deadline = started + deadline_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(auth=account.auth, timeout=10, limits=limits) as http:

        async def one(index: int, batch: Sequence[dict[str, Any]]) -> None:
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            await asyncio.sleep(index * interval)
            async with gate:
                while time.monotonic() < deadline:
                    url = f"{next(turn)}{account.messages_path}"
                    try:
                        response = await http.post(url, json=list(batch), headers=headers)
                    except httpx.TransportError:
                        result.transport_errors += 1
                        await asyncio.sleep(0.1)
                        continue
                    result.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        result.accepted.extend(
                            item["location"].rsplit("/", 1)[1]
                            for item in response.json()
                            if item["result"] == "accepted"
                        )
                        return
                    if response.status_code >= 500 or response.status_code == 429:
                        result.errors.append(response.json())
                        await asyncio.sleep(0.1)
                        continue
                    raise AssertionError(f"{response.status_code}: {response.text}")
                result.given_up += 1

        await asyncio.gather(*(one(i, batch) for i, batch in enumerate(batches)))
    result.seconds = time.monotonic() - started
    return result


# -- what the store says ----------------------------------------------------------------


@dataclass
class Outcome:
    messages: dict[str, Any]  # id -> row (state, attempts, lease_owner, due_us)
    events: dict[str, tuple[str, str, str]]  # id -> (message id, payload state, event state)

    def unfinished(self) -> list[str]:
        return [
            m.id
            for m in self.messages.values()
            if m.state not in FINAL_STATES or m.lease_owner is not None or m.due_us is not None
        ]

    def leased(self) -> list[str]:
        return [m.id for m in self.messages.values() if m.lease_owner is not None]

    def state_events(self, state: str = "sent") -> Counter[str]:
        """How many events report ``state`` for each message."""
        return Counter(
            mid for mid, payload_state, _ in self.events.values() if payload_state == state
        )


async def outcome(db: str, user_id: str) -> Outcome:
    store = Store(db)
    await store.open(run_migrations=False)
    m, e = t.messages.c, t.events.c
    try:
        async with store.read() as conn:
            rows = await conn.execute(
                select(m.id, m.state, m.attempts, m.lease_owner, m.due_us).where(
                    m.user_id == user_id, m.direction == "out"
                )
            )
            found = {row.id: row for row in rows}
            events = await conn.execute(
                select(e.id, e.message_id, e.payload, e.state).where(e.user_id == user_id)
            )
            written = {
                row.id: (row.message_id, json.loads(row.payload)["state"], row.state)
                for row in events
            }
    finally:
        await store.close()
    return Outcome(found, written)


async def pending(db: str, user_id: str) -> tuple[int, int]:
    """Messages not yet final and events not yet finished, for ``user_id``; cheap."""
    store = Store(db)
    await store.open(run_migrations=False)
    m, e = t.messages.c, t.events.c
    try:
        async with store.read() as conn:
            messages_left = await conn.scalar(
                select(func.count()).where(
                    m.user_id == user_id,
                    m.direction == "out",
                    (m.due_us.is_not(None)) | (m.lease_owner.is_not(None)),
                )
            )
            events_left = await conn.scalar(
                select(func.count()).where(e.user_id == user_id, e.state == "pending")
            )
    finally:
        await store.close()
    return int(messages_left or 0), int(events_left or 0)


async def settle(
    db: str, account: Account, receiver: EventReceiver, *, expected_events: int, within: float
) -> float:
    """Wait until nothing is pending and the receiver has every event; answers the seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if len(receiver.deliveries) >= expected_events:
            with contextlib.suppress(OSError):
                if await pending(db, account.user_id) == (0, 0):
                    break
        await asyncio.sleep(0.25)
    return time.monotonic() - started


@dataclass
class Ledger:
    """Every figure the checks need, in one place (and what the report prints)."""

    accepted: int
    final: int
    unfinished: list[str]
    dangling_leases: list[str]
    sends: Counter[str]  # carrier hand-offs per message id
    sent_events: int  # `sent` events written
    events_written: int
    events_received: int  # distinct event ids that arrived
    events_missing: list[str]
    deliveries: int  # callback requests, duplicates included
    duplicate_deliveries: int
    multi_state_events: list[str]  # messages with more than one `sent` event
    attempts: Counter[int]  # claims per message -> messages

    @property
    def lost(self) -> int:
        return self.accepted - self.final

    @property
    def never_sent(self) -> list[str]:
        return [mid for mid, n in self.sends.items() if n == 0]

    @property
    def duplicate_sends(self) -> int:
        return sum(n - 1 for n in self.sends.values() if n > 1)


def ledger(
    accepted: Sequence[str], found: Outcome, sent: Sequence[Sent], receiver: EventReceiver
) -> Ledger:
    sends: Counter[str] = Counter({mid: 0 for mid in accepted})
    for s in sent:
        if s.message_id in sends:
            sends[s.message_id] += 1
    per_message = found.state_events("sent")
    unfinished = set(found.unfinished())
    final = [mid for mid in accepted if mid in found.messages and mid not in unfinished]
    received = set(receiver.deliveries)
    return Ledger(
        accepted=len(set(accepted)),
        final=len(set(final)),
        unfinished=sorted(unfinished),
        dangling_leases=found.leased(),
        sends=sends,
        sent_events=sum(per_message.values()),
        events_written=len(found.events),
        events_received=len(set(found.events) & received),
        events_missing=sorted(set(found.events) - received),
        deliveries=sum(receiver.deliveries[e] for e in found.events),
        duplicate_deliveries=sum(max(0, receiver.deliveries[e] - 1) for e in found.events),
        multi_state_events=[mid for mid, n in per_message.items() if n > 1],
        attempts=Counter(m.attempts for m in found.messages.values()),
    )


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    box = [0.0]
    started = time.monotonic()
    try:
        yield box
    finally:
        box[0] = time.monotonic() - started


# -- restarting PostgreSQL ---------------------------------------------------------------

PG_CTLCLUSTER = "pg_ctlcluster"
PG_CONFIG_DIR = Path("/etc/postgresql")


class RestartUnavailable(Exception):
    """PostgreSQL cannot be restarted from here (no pg_ctlcluster, or it failed)."""


def local_postgres_cluster() -> tuple[str, str]:
    """The (version, name) of the one local cluster ``pg_ctlcluster`` manages."""
    import shutil

    if shutil.which(PG_CTLCLUSTER) is None:
        raise RestartUnavailable("pg_ctlcluster is not installed")
    found = sorted(PG_CONFIG_DIR.glob("*/*/postgresql.conf")) if PG_CONFIG_DIR.is_dir() else []
    if not found:
        raise RestartUnavailable(f"no PostgreSQL cluster configured under {PG_CONFIG_DIR}")
    conf = found[-1]
    return conf.parent.parent.name, conf.parent.name


def _pg_ctl(action: str, cluster: tuple[str, str], timeout: float = 60) -> None:
    command = [PG_CTLCLUSTER, "--skip-systemctl-redirect", *cluster, action]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise RestartUnavailable(f"{' '.join(command)} failed: {exc} {detail.decode()}") from exc


def restart_postgres(admin_url: str, cluster: tuple[str, str]) -> None:
    """Restart the cluster (fast shutdown: every connection is cut) and wait until it answers."""
    _pg_ctl("restart", cluster)
    wait_for_postgres(admin_url)


def ensure_postgres_running(admin_url: str, cluster: tuple[str, str]) -> None:
    """Start the cluster again if a failed restart left it down."""
    try:
        wait_for_postgres(admin_url, timeout=2)
    except RestartUnavailable:
        _pg_ctl("start", cluster)
        wait_for_postgres(admin_url)


def wait_for_postgres(admin_url: str, timeout: float = 30) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), 1):
                pass
            completed = subprocess.run(
                ["pg_isready", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)],
                capture_output=True,
                timeout=5,
            )
            if completed.returncode == 0:
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.1)
    raise RestartUnavailable(f"PostgreSQL at {url.host}:{url.port} did not come back")
