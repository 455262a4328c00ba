"""``trebuchet export USER``: a user's messages (and optionally events) as JSON Lines or
CSV, in constant memory, with the API's filters (``api/message_filters.py``) and the
download's format (``api/export.py``).

A progress bar goes to standard error when it is a terminal and the export itself is
not written to the terminal (``--output FILE``, or standard output redirected);
``--progress/--no-progress`` decides otherwise.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from trebuchet.cli.common import config_option, db_option, settings_from, with_store
from trebuchet.server.api.export import FORMATS, export_options, export_pages
from trebuchet.server.domain.errors import ApiError
from trebuchet.server.store import MessageFilter, Store
from trebuchet.server.store.export import count_messages

# Option name -> the list API's query parameter.
FILTER_OPTIONS = {
    "from_": "from",
    "to": "to",
    "from_date_time": "fromDateTime",
    "to_date_time": "toDateTime",
    "direction": "direction",
    "state": "state",
    "delivery_state": "deliveryState",
}


def show_progress(choice: bool | None, output_is_terminal: bool, errors_is_terminal: bool) -> bool:
    """Whether to draw the progress bar: as asked, else only for a person watching an
    export that does not go to their screen."""
    if choice is not None:
        return choice
    return errors_is_terminal and not output_is_terminal


def _query(fmt: str, events: bool, filters: dict[str, str | None]) -> dict[str, str]:
    query = {FILTER_OPTIONS[name]: value for name, value in filters.items() if value}
    return {**query, "format": fmt, "events": "true" if events else "false"}


async def _write(
    store: Store,
    user_id: str,
    where: MessageFilter,
    options: tuple[str, bool],
    out: IO[bytes],
    progress: bool,
) -> int:
    if await store.users.get(user_id) is None:
        raise click.ClickException(f"no user {user_id}")
    fmt, with_events = options
    written = 0
    shown: Any = _Quiet()
    if progress:
        total = await count_messages(store, user_id, where)
        shown = click.progressbar(length=total, label="exporting", file=sys.stderr, show_pos=True)
    with shown:
        async for count, chunk in export_pages(
            store, user_id, where, fmt=fmt, with_events=with_events
        ):
            out.write(chunk)
            written += count
            shown.update(count)
    out.flush()
    return written


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, count: int) -> None:
        return None


@click.command()
@db_option
@config_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--events", is_flag=True, help="Add each message's callback events")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
    help="File to write (default: standard output)",
)  # fmt: skip
@click.option("--progress/--no-progress", default=None, help="Draw a progress bar on stderr")
@click.option("--from", "from_", help="Sender, E.164")
@click.option("--to", help="Recipient, E.164")
@click.option("--from-date-time", help="Lower bound, as for the list API's fromDateTime")
@click.option("--to-date-time", help="Upper bound (inclusive), as for toDateTime")
@click.option("--direction", help="in or out")
@click.option("--state", help="A message state")
@click.option("--delivery-state", help="A delivery state")
@click.argument("user_id")
def export(
    db: str | None,
    config_file: str | None,
    fmt: str,
    events: bool,
    output: str,
    progress: bool | None,
    user_id: str,
    **filters: Any,
) -> None:
    """Write USER_ID's messages, oldest first, as JSON Lines or CSV."""
    try:
        where, fmt, with_events = export_options(_query(fmt, events, filters))
    except ApiError as exc:
        raise click.BadParameter(exc.message) from exc
    settings = settings_from(config_file, db=db)
    with click.open_file(output, "wb") as out:
        to_terminal = output == "-" and sys.stdout.isatty()
        drawn = show_progress(progress, to_terminal, sys.stderr.isatty())
        written = with_store(
            settings, lambda store: _write(store, user_id, where, (fmt, with_events), out, drawn)
        )
    if output != "-":
        click.echo(f"exported {written} messages to {output}", err=True)
