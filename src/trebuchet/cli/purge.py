"""``trebuchet purge [--dry-run] [--json]``: retention and pruning now, or what they would do."""

from __future__ import annotations

import json

import click

from trebuchet.cli.common import config_option, db_option, settings_from, with_store
from trebuchet.server.engine.housekeeping import Housekeeper
from trebuchet.server.media.storage import media_storage
from trebuchet.server.store import Store
from trebuchet.server.store.retention import STEPS

WHAT = {
    "text": "messages whose text {} emptied",
    "events": "delivered events (with their attempts)",
    "idempotency_keys": "idempotency keys",
    "carrier_refs": "carrier references",
    "user_errors": "user error log entries",
    "records": "messages deleted, with their events, attempts and references",
    "console_sessions": "idle web console sessions",
}


def table(counts: dict[str, int], *, dry_run: bool) -> str:
    """The counts as a table an operator reads, one step a line."""
    width = max(len(step) for step in STEPS)
    numbers = max(len(str(count)) for count in counts.values())
    lines = [f"{'step':<{width}}  {'rows':>{numbers}}"]
    for step in STEPS:
        what = WHAT[step].format("would be" if dry_run else "was")
        lines.append(f"{step:<{width}}  {counts[step]:>{numbers}}   {what}")
    return "\n".join(lines)


@click.command()
@db_option
@config_option
@click.option("--dry-run", is_flag=True, help="Only count what would be removed; change nothing")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object")
def purge(db: str | None, config_file: str | None, dry_run: bool, as_json: bool) -> None:
    """Apply retention and pruning now (one housekeeping round), or count what it would do.

    The windows are the settings' (retention_text_days, retention_record_days, ...), as
    the engine applies them, and so is the pacing (housekeeping_duty_cycle: a pause
    after each batch, so that sends go on meanwhile); see docs/operations.md.
    """
    settings = settings_from(config_file, db=db)

    async def act(store: Store) -> dict[str, int]:
        media = media_storage(settings)
        try:
            keeper = Housekeeper.from_settings(store, settings, media=media)
            return await (keeper.due() if dry_run else keeper.run_once())
        finally:
            await media.aclose()

    counts = with_store(settings, act)
    click.echo(json.dumps(counts) if as_json else table(counts, dry_run=dry_run))
