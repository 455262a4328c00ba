"""``trebuchet serve | users create | numbers add | migrate``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from trebuchet.server.config import Settings, load_settings
from trebuchet.server.domain.phone import is_e164
from trebuchet.server.store import Conflict, NewUser, Store
from trebuchet.server.store.database import migrate
from trebuchet.server.store.faults import unavailable_reason

T = TypeVar("T")
DEMO_NUMBERS = ("+15550100001", "+15550100002")
DRIVER_SETTLE_SECONDS = 0.1

db_option = click.option("--db", help="sqlite:///path or postgresql://... (env TREBUCHET_DB)")
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML settings file",
)


def _settings(config_file: str | None, **flags: Any) -> Settings:
    try:
        return load_settings(flags, config_file=config_file)
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc


def _with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = Store(settings.db)
        try:  # closed even when opening fails, before the loop ends
            await store.open()
            return await action(store)
        except Exception:
            # A driver thread whose connection failed still answers the loop once it
            # has stopped; give it the moment it needs before the loop is closed.
            await asyncio.sleep(DRIVER_SETTLE_SECONDS)
            raise
        finally:
            await store.close()

    return asyncio.run(run())


def _check_numbers(numbers: tuple[str, ...]) -> None:
    for number in numbers:
        if not is_e164(number):
            raise click.BadParameter(f"{number!r} is not an E.164 number such as +15550001111")


def _user_json(created: NewUser) -> dict[str, Any]:
    return {
        "userId": created.user.id,
        "apiToken": created.user.api_token,
        "apiSecret": created.api_secret,
        "numbers": created.numbers,
        # Signs callbacks when the server runs with callback_signing (docs/callbacks.md).
        "callbackSecret": created.user.callback_secret,
    }


def _demo_banner(created: NewUser, endpoint: str) -> str:
    first, second = created.numbers
    return f"""
Created a demo user (shown once; the secret is stored hashed):
  userId    {created.user.id}
  apiToken  {created.user.api_token}
  apiSecret {created.api_secret}
  numbers   {first} {second}

Try it with the SDK:

import trebuchet
api = trebuchet.Client("{created.user.id}", "{created.user.api_token}", "{created.api_secret}",
                       api_endpoint="{endpoint}")
message_id = api.send_message(from_="{first}", to="{second}", text="Hello from Trebuchet")
print(api.get_message(message_id))
"""


def _check_limiter(settings: Settings) -> None:
    """Stop ``serve`` with one line when the limiter's shared backend does not answer."""
    from trebuchet.server.limits import LimiterUnavailable, check_backend

    try:
        asyncio.run(check_backend(settings))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except LimiterUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.version_option(package_name="trebuchet")
def main() -> None:
    """Trebuchet: a self-hosted SMS/MMS platform speaking the Catapult v1 Messages API."""


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1)")
@click.option("--port", type=int, help="Port to listen on (default 8080)")
@click.option("--workers", type=click.IntRange(min=1), help="Server processes (default 1)")
@db_option
@config_option
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    db: str | None,
    config_file: str | None,
) -> None:
    """Run the API server (migrating the store first)."""
    from trebuchet.server import serving
    from trebuchet.server.logs import configure_logging

    settings = _settings(config_file, host=host, port=port, workers=workers, db=db)
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    _check_limiter(settings)

    async def prepare(store: Store) -> NewUser | None:
        if settings.demo_user and await store.count_users() == 0:
            return await store.create_user(DEMO_NUMBERS)
        return None

    try:
        created = _with_store(settings, prepare)
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        first_line = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise click.ClickException(
            f"cannot use the store {settings.db}: {reason} ({first_line})"
        ) from exc
    if created is not None:
        endpoint = settings.public_url or f"http://{settings.host}:{settings.port}"
        click.echo(_demo_banner(created, endpoint))
    serving.run(settings)


@main.command("migrate")
@db_option
@config_option
def migrate_command(db: str | None, config_file: str | None) -> None:
    """Create or upgrade the schema, then exit."""
    settings = _settings(config_file, db=db)
    asyncio.run(migrate(settings.db))
    click.echo("schema is up to date")


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@db_option
@config_option
@click.option("--number", "numbers", multiple=True, help="E.164 number to allocate (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON")
def users_create(
    db: str | None, config_file: str | None, numbers: tuple[str, ...], as_json: bool
) -> None:
    """Create a user; prints its credentials once (the secret is stored hashed)."""
    _check_numbers(numbers)
    settings = _settings(config_file, db=db)
    try:
        created = _with_store(settings, lambda store: store.create_user(numbers))
    except Conflict as exc:
        raise click.ClickException(str(exc)) from exc
    data = _user_json(created)
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {' '.join(value) if isinstance(value, list) else value}")


@main.group()
def numbers() -> None:
    """Manage phone numbers."""


@numbers.command("add")
@db_option
@config_option
@click.option("--user", "user_id", required=True, help="Owner's user id (u-...)")
@click.argument("number")
def numbers_add(db: str | None, config_file: str | None, user_id: str, number: str) -> None:
    """Allocate NUMBER (E.164) to a user."""
    _check_numbers((number,))
    settings = _settings(config_file, db=db)

    async def add(store: Store) -> str:
        if await store.user(user_id) is None:
            raise click.ClickException(f"no user {user_id}")
        row = await store.add_number(user_id, {"number": number})
        return str(row["id"])

    try:
        number_id = _with_store(settings, add)
    except Conflict as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"id": number_id, "number": number, "userId": user_id}))


@main.command()
@db_option
@config_option
@click.option("--concurrency", type=int, help="Messages sent at once by this worker")
def worker(db: str | None, config_file: str | None, concurrency: int | None) -> None:
    """Run delivery workers without the API, until SIGTERM (several may share a database)."""
    from trebuchet.server.engine.process import run_worker

    settings = _settings(config_file, db=db, send_concurrency=concurrency)
    asyncio.run(run_worker(settings))


@main.command()
@db_option
@config_option
@click.option("--from", "from_", required=True, help="Sender, E.164 or short code")
@click.option("--to", required=True, help="One of the platform's numbers, E.164")
@click.option("--text", default="", help="Message text")
@click.option("--media", multiple=True, help="Media URL (repeatable; makes it an MMS)")
def inject(
    db: str | None,
    config_file: str | None,
    from_: str,
    to: str,
    text: str,
    media: tuple[str, ...],
) -> None:
    """Simulate an inbound message from the network (stored and routed like a real one)."""
    from trebuchet.server.carriers.base import InboundMessage, UnknownNumber
    from trebuchet.server.engine.delivery import Delivery

    _check_numbers((to,))
    settings = _settings(config_file, db=db)
    message = InboundMessage(from_number=from_, to_number=to, text=text, media=list(media))

    async def route(store: Store) -> tuple[str, str]:
        delivery = Delivery.from_settings(store, settings)
        try:
            return await delivery.route(message)
        finally:
            await delivery.close()

    try:
        message_id, user_id = _with_store(settings, route)
    except UnknownNumber as exc:
        raise click.ClickException(f"no enabled number {to} on this platform") from exc
    click.echo(json.dumps({"messageId": message_id, "userId": user_id}))
