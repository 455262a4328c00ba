"""``trebuchet events list | redeliver | cancel``: the operator's view of callback events.

Each command names its events by one message (``--message``), one event (``--event``) or
a time range of their creation (``--since``/``--until``), optionally narrowed to a user
and a state; ``redeliver`` and ``cancel`` refuse to run without one of the first three,
so nobody re-sends every event ever written by accident.  ``--json`` prints JSON (one
object per line for ``list``) for scripts; otherwise a table.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from trebuchet.cli.common import config_option, db_option, settings_from, with_store
from trebuchet.server.domain.states import EventState
from trebuchet.server.domain.times import US, format_time, parse_filter_time
from trebuchet.server.store import Store
from trebuchet.server.store.event_actions import EventFilter

Row = Mapping[str, Any]
T = TypeVar("T")
PAGE = 500
DEFAULT_LIMIT = 100
# A table printed anywhere but a terminal is this wide, so no column is cut.
PIPE_WIDTH = 200


class TimeParam(click.ParamType):  # type: ignore[type-arg]
    """A date, or a date and time (UTC unless it says otherwise), as epoch microseconds."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_filter_time(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or time such as 2026-12-06T10:00:00Z", param, ctx)


def _selection(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            db_option,
            config_option,
            click.option("--message", "message_id", help="Events of this message (m-...)"),
            click.option("--event", "event_id", help="This event (ev-...)"),
            click.option("--since", type=TimeParam(), help="Created at or after this time"),
            click.option("--until", type=TimeParam(), help="Created before this time"),
            click.option("--user", "user_id", help="Only this user's events (u-...)"),
            click.option(
                "--state", type=click.Choice([s.value for s in EventState]), help="Only this state"
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts"),
        ]
    ):
        function = option(function)
    return function


def _filter(
    message_id: str | None,
    event_id: str | None,
    since: int | None,
    until: int | None,
    user_id: str | None,
    state: str | None,
) -> EventFilter:
    if since is not None and until is not None and since >= until:
        raise click.BadParameter("--since must be before --until", param_hint="--since")
    return EventFilter(user_id, message_id, event_id, since, until, state)


def _named(which: EventFilter) -> None:
    named = (which.message_id, which.event_id, which.since_us, which.until_us)
    if all(value is None for value in named):
        raise click.UsageError("name the events: --message, --event, or --since/--until")


def _run(
    db: str | None, config_file: str | None, action: Callable[[Store, int], Awaitable[T]]
) -> T:
    settings = settings_from(config_file, db=db)
    window_us = round(settings.callback_retry_window * US)
    return with_store(settings, lambda store: action(store, window_us))


def event_json(row: Row) -> dict[str, Any]:
    """An event as the operator sees it: the bookkeeping, not the payload."""
    body: dict[str, Any] = {
        "id": row["id"],
        "userId": row["user_id"],
        "messageId": row["message_id"],
        "sequence": row["sequence"],
        "state": row["state"],
        "rounds": row["attempts"],
        "crashes": row["crashes"],
        "createdTime": format_time(row["created_us"]),
        "destination": row["destination"],
    }
    if row["due_us"] is not None:
        body["nextAttemptTime"] = format_time(row["due_us"])
    if row["finished_us"] is not None:
        body["finishedTime"] = format_time(row["finished_us"])
    if row["failure_code"]:
        body["errorCode"] = row["failure_code"]
    if row["failure"]:
        body["error"] = row["failure"]
    return body


_COLUMNS = (
    ("ID", "id"), ("MESSAGE", "messageId"), ("USER", "userId"), ("SEQ", "sequence"),
    ("STATE", "state"), ("ROUNDS", "rounds"), ("CREATED", "createdTime"),
    ("NEXT", "nextAttemptTime"), ("ERROR", "errorCode"),
)  # fmt: skip


def _console() -> Console:
    if sys.stdout.isatty():
        return Console()
    width = max(shutil.get_terminal_size((PIPE_WIDTH, 24)).columns, PIPE_WIDTH)
    return Console(width=width, no_color=True, highlight=False)


def _table(events: Sequence[dict[str, Any]], title: str) -> None:
    click.echo(title)
    if not events:
        return
    table = Table()
    for header, _ in _COLUMNS:
        table.add_column(header, no_wrap=True)
    for event in events:
        table.add_row(*(str(event.get(key, "")) for _, key in _COLUMNS))
    _console().print(table)


@click.group()
def events() -> None:
    """Callback events: list them, send them again, stop pending ones."""


@events.command("list")
@_selection
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True,
              help="Most events printed")  # fmt: skip
def list_events(
    db: str | None, config_file: str | None, message_id: str | None, event_id: str | None,
    since: int | None, until: int | None, user_id: str | None, state: str | None,
    as_json: bool, limit: int,
) -> None:  # fmt: skip
    """List events, oldest first."""
    which = _filter(message_id, event_id, since, until, user_id, state)

    async def pages(store: Store, window_us: int) -> list[Row]:
        rows: list[Row] = []
        after: tuple[int, str] | None = None
        while len(rows) < limit:
            page = await store.events.page(which, after, min(PAGE, limit - len(rows)))
            rows += page
            if not page:
                break
            after = (page[-1]["created_us"], page[-1]["id"])
        return rows

    found = [event_json(row) for row in _run(db, config_file, pages)]
    if as_json:
        for event in found:
            click.echo(json.dumps(event))
        return
    _table(
        found, f"{len(found)} event(s)" + (f", the first {limit}" if len(found) == limit else "")
    )


def _act(
    verb: str, db: str | None, config_file: str | None, which: EventFilter, as_json: bool,
    action: Callable[[Store, int, int], Awaitable[list[Row]]],
) -> None:  # fmt: skip
    _named(which)

    async def run(store: Store, window_us: int) -> list[Row]:
        return await action(store, time.time_ns() // 1000, window_us)

    changed = [event_json(row) for row in _run(db, config_file, run)]
    if as_json:
        click.echo(json.dumps({verb: len(changed), "events": changed}))
        return
    _table(changed, f"{len(changed)} event(s) {verb}")


@events.command("redeliver")
@_selection
def redeliver(
    db: str | None, config_file: str | None, message_id: str | None, event_id: str | None,
    since: int | None, until: int | None, user_id: str | None, state: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Send events again: pending, due now, with a fresh retry window."""
    which = _filter(message_id, event_id, since, until, user_id, state)
    _act("redelivered", db, config_file, which, as_json,
         lambda store, now, window_us: store.events.redeliver(which, now, window_us))  # fmt: skip


@events.command("cancel")
@_selection
def cancel(
    db: str | None, config_file: str | None, message_id: str | None, event_id: str | None,
    since: int | None, until: int | None, user_id: str | None, state: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Stop pending events: failed, with errorCode callback-cancelled."""
    which = _filter(message_id, event_id, since, until, user_id, state)
    _act("cancelled", db, config_file, which, as_json,
         lambda store, now, window_us: store.events.cancel(which, now))  # fmt: skip
