"""``trebuchet serve | migrate | users create | numbers ... | worker | inject``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import click

from trebuchet.cli.applications import applications
from trebuchet.cli.backup import backup
from trebuchet.cli.common import (
    STORE_PROBLEMS,
    check_numbers,
    config_option,
    db_option,
    require_existing_store,
    settings_from,
    store_problem,
    with_store,
)
from trebuchet.cli.doctor import doctor
from trebuchet.cli.events import events
from trebuchet.cli.export import export
from trebuchet.cli.media import media
from trebuchet.cli.numbers import numbers
from trebuchet.cli.purge import purge
from trebuchet.cli.restore import restore
from trebuchet.cli.users import COMMANDS as USER_COMMANDS
from trebuchet.server.config import Settings, development_settings, development_start
from trebuchet.server.store import Conflict, NewUser, Store
from trebuchet.server.store.database import migrate, sqlite_path

DEMO_NUMBERS = ("+15550100001", "+15550100002")
DEVELOPMENT_NOTICE = (
    "development start: nothing is configured, so loopback callbacks and media fetches, "
    "self-service numbers (POST /phoneNumbers) and a demo user are on; configure "
    "anything (a --config file, a TREBUCHET_* variable, a flag other than --port) "
    "to turn this off"
)


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


def serve_settings(
    config_file: str | None, flags: dict[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[Settings, bool]:
    """``serve``'s settings, and whether this is the development start."""
    settings = settings_from(config_file, environ=environ, **flags)
    development = development_start(flags, environ, config_file)
    return (development_settings(settings) if development else settings), development


@click.group()
@click.version_option(package_name="trebuchet")
def main() -> None:
    """Trebuchet: a self-hosted SMS/MMS platform speaking the Catapult v1 Messages API."""


main.add_command(numbers)
main.add_command(purge)
main.add_command(events)
main.add_command(applications)
main.add_command(doctor)
main.add_command(backup)
main.add_command(restore)
main.add_command(export)
main.add_command(media)


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1)")
@click.option("--port", type=int, help="Port to listen on (default 8080)")
@click.option(
    "--api-processes",
    type=click.IntRange(min=0),
    help="API processes sharing the port (default: one per core; 0 or 1: one)",
)
@click.option(
    "--worker-processes",
    type=click.IntRange(min=0),
    help="Delivery processes (default 1; 0 runs delivery inside the API processes)",
)
@click.option("--workers", type=click.IntRange(min=1), help="Older name of --api-processes")
@click.option(
    "--demo-user/--no-demo-user",
    default=None,
    help="Create a demo user with two numbers when the store has no user",
)
@db_option
@config_option
def serve(
    host: str | None,
    port: int | None,
    api_processes: int | None,
    worker_processes: int | None,
    workers: int | None,
    demo_user: bool | None,
    db: str | None,
    config_file: str | None,
) -> None:
    """Run the API server and its delivery processes (migrating the store first).

    ``--api-processes 1 --worker-processes 0`` is one process doing everything.

    With nothing configured (no --config, no TREBUCHET_* variable, no flag but --port)
    this is a development start: a demo user, self-service numbers and loopback
    callbacks are on, and the first lines say so.
    """
    from trebuchet.server import serving
    from trebuchet.server.logs import configure_logging

    flags = {
        "host": host,
        "port": port,
        "api_processes": api_processes,
        "worker_processes": worker_processes,
        "workers": workers,
        "db": db,
        "demo_user": demo_user,
    }
    settings, development = serve_settings(config_file, flags)
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if development:
        click.echo(DEVELOPMENT_NOTICE)

    _check_limiter(settings)

    async def prepare(store: Store) -> NewUser | None:
        if settings.demo_user and await store.users.count() == 0:
            return await store.users.create(DEMO_NUMBERS)
        return None

    created = with_store(settings, prepare, create=True)
    if created is not None:
        endpoint = settings.public_url or f"http://{settings.host}:{settings.port}"
        click.echo(_demo_banner(created, endpoint))
    code = serving.run(settings)
    if code:
        raise SystemExit(code)


@main.command("migrate")
@db_option
@config_option
def migrate_command(db: str | None, config_file: str | None) -> None:
    """Create or upgrade the schema, then exit."""
    settings = settings_from(config_file, db=db)
    try:
        before, after = asyncio.run(migrate(settings.db))
    except STORE_PROBLEMS as exc:
        raise store_problem(settings.db, exc) from exc
    where = sqlite_path(settings.db) or settings.db
    if before is None:
        click.echo(f"created the schema (revision {after}) in {where}")
    elif before != after:
        click.echo(f"upgraded the schema from revision {before} to {after}")
    else:
        click.echo(f"the schema is up to date (revision {after})")


@main.group()
def users() -> None:
    """Manage users."""


for _command in USER_COMMANDS:
    users.add_command(_command)


@users.command("create")
@db_option
@config_option
@click.option("--number", "numbers", multiple=True, help="E.164 number to allocate (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON")
def users_create(
    db: str | None, config_file: str | None, numbers: tuple[str, ...], as_json: bool
) -> None:
    """Create a user; prints its credentials once (the secret is stored hashed).

    Each --number is taken from the inventory when it is available there, or added to it.
    """
    check_numbers(numbers)
    settings = settings_from(config_file, db=db)
    try:
        created = with_store(settings, lambda store: store.users.create(numbers))
    except Conflict as exc:
        raise click.ClickException(str(exc)) from exc
    data = _user_json(created)
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {' '.join(value) if isinstance(value, list) else value}")


@main.command()
@db_option
@config_option
@click.option("--concurrency", type=int, help="Messages sent at once by this worker")
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    help="Serve Prometheus metrics at /metrics on this port (default 0: none)",
)
@click.option("--metrics-host", help="Interface of the metrics port (default 127.0.0.1)")
def worker(
    db: str | None,
    config_file: str | None,
    concurrency: int | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Run delivery workers without the API, until SIGTERM (several may share a database)."""
    from trebuchet.server.engine.process import MetricsPortUnavailable, run_worker

    settings = settings_from(
        config_file,
        db=db,
        send_concurrency=concurrency,
        worker_metrics_port=metrics_port,
        worker_metrics_host=metrics_host,
    )
    require_existing_store(settings.db)
    try:
        asyncio.run(run_worker(settings))
    except MetricsPortUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    except STORE_PROBLEMS as exc:
        raise store_problem(settings.db, exc) from exc


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

    check_numbers((from_,), short_code=True)
    check_numbers((to,))
    settings = settings_from(config_file, db=db)
    message = InboundMessage(from_number=from_, to_number=to, text=text, media=list(media))

    async def route(store: Store) -> tuple[str, str]:
        delivery = Delivery.from_settings(store, settings)
        try:
            return await delivery.route(message)
        finally:
            await delivery.close()

    try:
        message_id, user_id = with_store(settings, route)
    except UnknownNumber as exc:
        raise click.ClickException(f"no enabled number {to} on this platform") from exc
    click.echo(json.dumps({"messageId": message_id, "userId": user_id}))
