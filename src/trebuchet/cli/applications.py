"""``trebuchet applications list``: the users' applications, for the operator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from trebuchet.cli.common import config_option, db_option, settings_from, with_store
from trebuchet.cli.output import emit_list, json_option
from trebuchet.server.store import Store
from trebuchet.server.store.accounts import Accounts

PAGE = 1000


def application_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": row["user_id"],
        "name": row["name"],
        "incomingMessageUrl": row["incoming_message_url"],
        "incomingMessageFallbackUrl": row["incoming_message_fallback_url"],
    }


async def _user_applications(store: Store, user_id: str) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = []
    after = None
    while True:
        page = await store.applications.list(user_id, after, PAGE)
        rows += page
        if len(page) < PAGE:
            return rows
        after = page[-1]["id"]


async def _every_user(store: Store) -> list[str]:
    ids: list[str] = []
    after = None
    while page := await Accounts(store).list(after=after, limit=PAGE):
        ids += [account.id for account in page]
        after = page[-1].id
    return ids


@click.group()
def applications() -> None:
    """The users' applications (users manage them through the API)."""


@applications.command("list")
@db_option
@config_option
@json_option
@click.option("--user", "user_id", help="Only this user's applications")
def list_applications(
    db: str | None, config_file: str | None, as_json: bool, user_id: str | None
) -> None:
    """Print applications, by user then id."""
    settings = settings_from(config_file, db=db)

    async def every(store: Store) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for owner in [user_id] if user_id else await _every_user(store):
            rows += await _user_applications(store, owner)
        return rows

    emit_list([application_json(row) for row in with_store(settings, every)], as_json)
