"""``trebuchet doctor``: is everything this deployment needs there and answering?

Each check gives one line: the store answers, its schema is at the newest migration,
each configured carrier binds (SMPP: a real bind with the configured credentials; HTTP
upstream: its address takes a connection), the media folder is writable (or the S3
bucket answers), and Redis answers when the limiter uses it.  The exit status is 1 when
anything is wrong.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from trebuchet.cli.common import STORE_PROBLEMS, config_option, db_option, settings_from
from trebuchet.cli.output import emit_list, json_option
from trebuchet.server.config import Settings
from trebuchet.server.store import Store
from trebuchet.server.store.database import shown_url, sqlite_path
from trebuchet.server.store.faults import unavailable_reason
from trebuchet.server.store.schema import current_revisions, head_revisions

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    problem: str | None  # None: all is well
    detail: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "ok": self.problem is None,
            "detail": self.problem or self.detail,
        }


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _missing_file(url: str) -> str | None:
    path = sqlite_path(url)
    if path is None or Path(path).exists():
        return None
    return f"no store at {Path(path).absolute()} ({shown_url(url)})"


async def check_store(settings: Settings) -> list[Check]:
    """The store answers, and its schema is at the newest revision."""
    shown = shown_url(settings.db)
    try:
        missing = _missing_file(settings.db)
        if missing:
            return [Check("store", missing)]
        store = Store.from_settings(settings)
    except STORE_PROBLEMS as exc:
        return [Check("store", f"cannot use the store {shown}: {_first_line(exc)}")]
    try:
        await store.open(run_migrations=False)
        await store.ping()
        current, heads = await current_revisions(store), head_revisions()
    except STORE_PROBLEMS as exc:
        reason = unavailable_reason(exc) or _first_line(exc)
        return [Check("store", f"the store {shown} does not answer: {reason}")]
    finally:
        await store.close()
    found = Check("store", None, shown)
    if current == heads:
        return [found, Check("migrations", None, f"at {', '.join(sorted(heads))}")]
    have = ", ".join(sorted(current)) or "no schema"
    need = ", ".join(sorted(heads))
    problem = f"the schema is at {have}, the code needs {need}: run `trebuchet migrate`"
    return [found, Check("migrations", problem)]


async def _connects(host: str, port: int, seconds: float) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), seconds)
    except (OSError, TimeoutError) as exc:
        return f"{host}:{port} takes no connection ({_first_line(exc) or 'timed out'})"
    writer.close()
    await writer.wait_closed()
    return None


async def _smpp(name: str, values: Mapping[str, Any], seconds: float) -> str | None:
    from trebuchet.server.carriers.refs import MemoryRefs
    from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig

    config = SmppConfig.from_mapping(name, values)
    unreachable = await _connects(config.host, config.port, seconds)
    if unreachable:
        return unreachable
    carrier = SmppCarrier(name, config, MemoryRefs())
    try:
        bound = await carrier.wait_bound(seconds)
    finally:
        await carrier.close()
    return None if bound else f"{config.host}:{config.port} did not bind within {seconds:g}s"


async def _http(name: str, values: Mapping[str, Any], seconds: float) -> str | None:
    from trebuchet.server.carriers.http_upstream import UpstreamConfig

    url = urlsplit(UpstreamConfig.from_mapping(name, values).url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return await _connects(url.hostname or "", port, seconds)


async def check_carriers(settings: Settings, seconds: float) -> list[Check]:
    """Every carrier the deployment uses (the default and the routes') binds."""
    used = {settings.carrier} | {str(route.get("carrier")) for route in settings.routes}
    checks = []
    for name in sorted(used):
        values = settings.carriers.get(name, {"type": "sandbox"} if name == "sandbox" else None)
        if values is None:
            checks.append(Check(f"carrier {name}", "not configured under [carriers.NAME]"))
            continue
        kind = values.get("type")
        probes: dict[str, Callable[[str, Mapping[str, Any], float], Awaitable[str | None]]] = {
            "smpp": _smpp, "http": _http, "catapult": _http,
        }  # fmt: skip
        try:
            problem = None if kind == "sandbox" else await probes[str(kind)](name, values, seconds)
        except KeyError:
            problem = f"unknown type {kind!r}"
        except ValueError as exc:
            problem = str(exc)
        checks.append(Check(f"carrier {name}", problem, str(kind)))
    return checks


def _writable(folder: Path) -> str | None:
    if not folder.exists():
        parent = next(p for p in folder.parents if p.exists())
        if os.access(parent, os.W_OK) and parent.is_dir():
            return None  # the storage creates it on first use
        return f"{folder} does not exist and {parent} is not writable"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return f"{folder} is not writable ({exc.strerror})"
    return None


def check_media(settings: Settings) -> Check:
    folder = Path(settings.media_dir).absolute()
    return Check("media", _writable(folder), str(folder))


async def check_media_bucket(settings: Settings, seconds: float = DEFAULT_TIMEOUT) -> Check:
    """``media_backend = s3``: the bucket answers to the credentials the server has."""
    from trebuchet.server.media.s3 import MediaStorageUnavailable, S3MediaStorage

    where = f"s3://{settings.media_s3_bucket}/{settings.media_s3_prefix}"
    if settings.media_s3_endpoint_url:
        where += f" at {settings.media_s3_endpoint_url}"
    storage = S3MediaStorage(
        settings.media_s3_bucket,
        endpoint_url=settings.media_s3_endpoint_url,
        region=settings.media_s3_region,
        prefix=settings.media_s3_prefix,
    )
    try:
        await asyncio.wait_for(storage.check(), seconds)
    except MediaStorageUnavailable as exc:
        return Check("media", f"{exc} ({where})")
    except TimeoutError:
        return Check("media", f"no answer in {seconds:g} s ({where})")
    finally:
        await storage.aclose()
    return Check("media", None, where)


async def check_redis(settings: Settings) -> list[Check]:
    if settings.limiter_backend != "redis" and not settings.redis_url:
        return []
    from trebuchet.server.limits import LimiterUnavailable, check_backend

    try:
        await check_backend(settings)
    except (ValueError, LimiterUnavailable) as exc:
        return [Check("redis", str(exc))]
    return [Check("redis", None, settings.redis_url or "")]


async def run_checks(settings: Settings, seconds: float = DEFAULT_TIMEOUT) -> list[Check]:
    return [
        *await check_store(settings),
        *await check_carriers(settings, seconds),
        (
            await check_media_bucket(settings, seconds)
            if settings.media_backend == "s3"
            else check_media(settings)
        ),
        *await check_redis(settings),
    ]


@click.command()
@db_option
@config_option
@json_option
@click.option(
    "--timeout", "seconds", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
    show_default=True, help="Seconds each network check may take",
)  # fmt: skip
def doctor(db: str | None, config_file: str | None, as_json: bool, seconds: float) -> None:
    """Check the store, its schema, the carriers, media storage and Redis; exit 1 if
    anything is wrong, with one line saying what."""
    settings = settings_from(config_file, db=db)
    checks = asyncio.run(run_checks(settings, seconds))
    if as_json:
        emit_list([check.json() for check in checks], True)
    else:
        for check in checks:
            mark = "ok  " if check.problem is None else "FAIL"
            click.echo(f"{mark}  {check.name}: {check.problem or check.detail}")
    if any(check.problem is not None for check in checks):
        raise SystemExit(1)
