"""Results, databases and small statistics shared by the benchmarks."""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

TICKS = os.sysconf("SC_CLK_TCK")
# PostgreSQL's processes that write for every database (shared: on a quiet machine, the
# benchmark's).
PG_BACKGROUND = ("walwriter", "checkpointer", "background writer", "autovacuum launcher")

POSTGRES_ADMIN_URL = os.environ.get(
    "TREBUCHET_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    benchmark: str
    measured: str
    target: str
    met: bool | None  # None: no target, informational
    detail: str = ""
    topology: str = ""  # the server's processes, where it matters ("2 API + 1 delivery")


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of ``pid``, from ``/proc``; None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 when it is gone)."""
    stat = proc_stat(pid)
    return 0.0 if stat is None else stat[1]


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=3,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (TimeoutError, OSError):
        return False
    return True


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"tb_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_database(directory: Path, name: str = "bench.db") -> str:
    return f"sqlite:///{directory / name}"
