"""``trebuchet numbers add | assign | unassign | move | release | list``: the inventory.

Every command prints a table, or JSON with ``--json`` (one object per line).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import click

from trebuchet.cli.common import check_numbers, config_option, db_option, settings_from, with_store
from trebuchet.cli.output import emit_list, json_option
from trebuchet.server.store import Conflict, Store
from trebuchet.server.store.inventory import STATES, Inventory, UnknownNumber, UnknownUser

Row = Mapping[Any, Any]
LIST_LIMIT = 1000


def number_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "userId": row["user_id"],
        "numberState": row["number_state"],
    }


def _run(
    db: str | None, config_file: str | None, action: Callable[[Inventory], Awaitable[Any]]
) -> Any:
    settings = settings_from(config_file, db=db)

    async def act(store: Store) -> Any:
        return await action(store.inventory)

    try:
        return with_store(settings, act)
    except (Conflict, UnknownNumber, UnknownUser) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def numbers() -> None:
    """The number inventory: numbers the operator holds, and which user has each."""


@numbers.command("add")
@db_option
@config_option
@json_option
@click.option("--user", "user_id", help="Assign the numbers to this user (u-...) at once")
@click.argument("number_list", metavar="NUMBER...", nargs=-1, required=True)
def add(
    db: str | None,
    config_file: str | None,
    as_json: bool,
    user_id: str | None,
    number_list: tuple[str, ...],
) -> None:
    """Add numbers (E.164) to the inventory, all or none; released numbers cannot return."""
    check_numbers(number_list)
    rows = _run(db, config_file, lambda inventory: inventory.add(number_list, user_id))
    emit_list([number_json(row) for row in rows], as_json)


@numbers.command("assign")
@db_option
@config_option
@json_option
@click.option("--user", "user_id", required=True, help="The user (u-...) to assign to")
@click.argument("number")
def assign(
    db: str | None, config_file: str | None, as_json: bool, user_id: str, number: str
) -> None:
    """Assign an available inventory number to a user."""
    check_numbers((number,))
    row = _run(db, config_file, lambda inventory: inventory.assign(number, user_id))
    emit_list([number_json(row)], as_json)


@numbers.command("unassign")
@db_option
@config_option
@json_option
@click.argument("number")
def unassign(db: str | None, config_file: str | None, as_json: bool, number: str) -> None:
    """Take a number back from its user; it stays in the inventory, available."""
    check_numbers((number,))
    row = _run(db, config_file, lambda inventory: inventory.unassign(number))
    emit_list([number_json(row)], as_json)


@numbers.command("release")
@db_option
@config_option
@json_option
@click.argument("number")
def release(db: str | None, config_file: str | None, as_json: bool, number: str) -> None:
    """Release a number for good: nobody can use it, and it cannot be added again."""
    check_numbers((number,))
    row = _run(db, config_file, lambda inventory: inventory.release(number))
    emit_list([number_json(row)], as_json)


@numbers.command("list")
@db_option
@config_option
@json_option
@click.option("--state", type=click.Choice(STATES), help="Only numbers in this state")
@click.option("--user", "user_id", help="Only this user's numbers")
def list_numbers(
    db: str | None, config_file: str | None, as_json: bool, state: str | None, user_id: str | None
) -> None:
    """Print the inventory in number order."""

    async def every(inventory: Inventory) -> list[Row]:
        rows: list[Row] = []
        after = None
        while True:
            page = await inventory.list(state=state, user_id=user_id, after=after, limit=LIST_LIMIT)
            rows += page
            if len(page) < LIST_LIMIT:
                return rows
            after = page[-1]["number"]

    emit_list([number_json(row) for row in _run(db, config_file, every)], as_json)


@numbers.command("move")
@db_option
@config_option
@json_option
@click.option("--to", "user_id", required=True, help="The user (u-...) who gets the number")
@click.argument("number")
def move(db: str | None, config_file: str | None, as_json: bool, user_id: str, number: str) -> None:
    """Move a user's number to another user; the old holder's settings on it are cleared."""
    check_numbers((number,))
    row = _run(db, config_file, lambda inventory: inventory.move(number, user_id))
    emit_list([number_json(row)], as_json)
