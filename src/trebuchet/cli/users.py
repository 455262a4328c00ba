"""``trebuchet users list | show | disable | enable | rotate-secret | delete``.

The commands join ``users create`` (``main.py``) in the ``users`` group.  What disabling
and deleting do is said in ``server/store/accounts.py`` and ``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from trebuchet.cli.common import config_option, db_option, settings_from, with_store
from trebuchet.cli.output import emit_list, emit_one, json_option
from trebuchet.server.config import Settings
from trebuchet.server.domain.times import format_time
from trebuchet.server.media.storage import media_storage
from trebuchet.server.store import Store
from trebuchet.server.store.accounts import Account, Accounts, AccountSummary

T = TypeVar("T")
LIST_PAGE = 1000
MEDIA_PAGE = 1000


def account_json(account: Account) -> dict[str, Any]:
    return {
        "userId": account.id,
        "apiToken": account.api_token,
        "created": format_time(account.created_us),
        "disabled": None if account.disabled_us is None else format_time(account.disabled_us),
    }


def summary_json(summary: AccountSummary) -> dict[str, Any]:
    return {
        **account_json(summary.account),
        "numbers": summary.numbers,
        "applications": summary.applications,
        "messages": summary.messages,
    }


def _accounts(
    db: str | None, config_file: str | None, action: Callable[[Accounts], Awaitable[T]]
) -> T:
    settings = settings_from(config_file, db=db)
    return with_store(settings, lambda store: action(Accounts(store)))


def _found(value: T | None, user_id: str) -> T:
    if value is None:
        raise click.ClickException(f"no user {user_id}")
    return value


@click.command("list")
@db_option
@config_option
@json_option
def list_users(db: str | None, config_file: str | None, as_json: bool) -> None:
    """Print every user in id order (whether disabled, and since when)."""

    async def every(accounts: Accounts) -> list[Account]:
        found: list[Account] = []
        after = None
        while True:
            page = await accounts.list(after=after, limit=LIST_PAGE)
            found += page
            if len(page) < LIST_PAGE:
                return found
            after = page[-1].id

    emit_list([account_json(account) for account in _accounts(db, config_file, every)], as_json)


@click.command("show")
@db_option
@config_option
@json_option
@click.argument("user_id")
def show(db: str | None, config_file: str | None, as_json: bool, user_id: str) -> None:
    """Print one user: credentials' token, state, numbers, and how much they hold."""
    summary = _accounts(db, config_file, lambda accounts: accounts.summary(user_id))
    emit_one(summary_json(_found(summary, user_id)), as_json)


def _set_disabled(
    db: str | None, config_file: str | None, as_json: bool, user_id: str, disabled: bool
) -> None:
    account = _accounts(db, config_file, lambda accounts: accounts.set_disabled(user_id, disabled))
    emit_one(account_json(_found(account, user_id)), as_json)


@click.command("disable")
@db_option
@config_option
@json_option
@click.argument("user_id")
def disable(db: str | None, config_file: str | None, as_json: bool, user_id: str) -> None:
    """Refuse the user's API calls (401) without deleting anything; `enable` undoes it.

    A running server may accept credentials it verified in the last cache_seconds.
    """
    _set_disabled(db, config_file, as_json, user_id, True)


@click.command("enable")
@db_option
@config_option
@json_option
@click.argument("user_id")
def enable(db: str | None, config_file: str | None, as_json: bool, user_id: str) -> None:
    """Let a disabled user call the API again, with the same credentials."""
    _set_disabled(db, config_file, as_json, user_id, False)


@click.command("rotate-secret")
@db_option
@config_option
@json_option
@click.argument("user_id")
def rotate_secret(db: str | None, config_file: str | None, as_json: bool, user_id: str) -> None:
    """Give the user a new API secret, printed once (stored hashed); the old one stops."""
    secret = _accounts(db, config_file, lambda accounts: accounts.rotate_secret(user_id))
    emit_one({"userId": user_id, "apiSecret": _found(secret, user_id)}, as_json)


async def _delete_media(settings: Settings, user_id: str) -> int:
    storage = media_storage(settings)
    removed = 0
    try:
        while page := await storage.list(user_id, after=None, limit=MEDIA_PAGE):
            for entry in page:
                removed += await storage.delete(user_id, entry.name)
    finally:
        await storage.aclose()
    return removed


@click.command("delete")
@db_option
@config_option
@json_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@click.argument("user_id")
def delete(db: str | None, config_file: str | None, as_json: bool, yes: bool, user_id: str) -> None:
    """Delete a user and everything they own: messages, events, applications, media.

    Their numbers go back to the inventory, available.  This cannot be undone.
    """
    settings = settings_from(config_file, db=db)
    if not yes:
        click.confirm(f"Delete {user_id} and everything they own?", abort=True)

    async def remove(store: Store) -> dict[str, Any]:
        removed = _found(await Accounts(store).delete(user_id), user_id)
        media = await _delete_media(settings, user_id)
        return {
            "userId": user_id,
            "messages": removed.messages,
            "events": removed.events,
            "applications": removed.applications,
            "media": media,
            "numbersReturned": removed.numbers,
        }

    emit_one(with_store(settings, remove), as_json)


COMMANDS = (list_users, show, disable, enable, rotate_secret, delete)
