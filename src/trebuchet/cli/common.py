"""What every command shares: settings, the store, checking numbers.

A command that cannot use its store stops with one line saying which store and why
(a database that does not exist, an unsupported URL, a folder that is not there), never
a traceback.  Only ``serve`` and ``migrate`` create a new SQLite file; the others refuse
one that does not exist and say where they looked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from trebuchet.server.config import Settings, load_settings
from trebuchet.server.domain.phone import is_e164, is_short_code
from trebuchet.server.store import Store
from trebuchet.server.store.database import shown_url, sqlite_path
from trebuchet.server.store.faults import STORE_FAULTS, unavailable_reason

T = TypeVar("T")
DRIVER_SETTLE_SECONDS = 0.1
E164_HINT = "an E.164 number such as +15550001111"
# What a store that cannot be used raises: a bad URL, a missing folder, the driver's faults.
STORE_PROBLEMS: tuple[type[Exception], ...] = (ValueError, *STORE_FAULTS)

db_option = click.option("--db", help="sqlite:///path or postgresql://... (env TREBUCHET_DB)")
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML settings file",
)


def settings_from(
    config_file: str | None, *, environ: Mapping[str, str] | None = None, **flags: Any
) -> Settings:
    try:
        return load_settings(flags, environ, config_file=config_file)
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def store_problem(url: str, exc: BaseException) -> click.ClickException:
    """One line for a store that cannot be used: which, why, and the driver's words."""
    reason = unavailable_reason(exc)
    why = f"{reason} ({_first_line(exc)})" if reason else _first_line(exc)
    return click.ClickException(f"cannot use the store {shown_url(url)}: {why}")


def require_existing_store(url: str) -> None:
    """Refuse a SQLite store that does not exist, naming the file looked for."""
    try:
        path = sqlite_path(url)
    except STORE_PROBLEMS as exc:
        raise store_problem(url, exc) from exc
    if path is not None and not Path(path).exists():
        raise click.ClickException(
            f"no store at {Path(path).absolute()} ({url}): give the store with --db or "
            "TREBUCHET_DB, or create one with `trebuchet migrate`"
        )


def with_store(
    settings: Settings, action: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store ``settings`` describe (migrated), run ``action`` on it, close it.

    ``create``: a new SQLite file may be made (``serve``, ``migrate``); otherwise a missing
    one is refused.
    """

    async def opened() -> Store:
        try:
            if not create:
                require_existing_store(settings.db)
            store = Store.from_settings(settings)
        except STORE_PROBLEMS as exc:
            raise store_problem(settings.db, exc) from exc
        try:
            await store.open()
        except BaseException as exc:
            # A driver thread whose connection failed still answers the loop once it
            # has stopped; give it the moment it needs before the loop is closed.
            await asyncio.sleep(DRIVER_SETTLE_SECONDS)
            await store.close()
            if isinstance(exc, STORE_PROBLEMS):
                raise store_problem(settings.db, exc) from exc
            raise
        return store

    async def run() -> T:
        store = await opened()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def check_numbers(numbers: tuple[str, ...] | list[str], *, short_code: bool = False) -> None:
    for number in numbers:
        if not (is_e164(number) or (short_code and is_short_code(number))):
            shape = E164_HINT + (" or a 5-6 digit short code" if short_code else "")
            raise click.BadParameter(f"{number!r} is not {shape}")
