"""``trebuchet media migrate``: copy a filesystem media store into the S3 bucket."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from trebuchet.cli.common import config_option, settings_from
from trebuchet.cli.output import json_option
from trebuchet.server.config import Settings
from trebuchet.server.media.migrate import SKIP_REASONS, Ledger, MigrationReport, migrate_media
from trebuchet.server.media.storage import LocalMediaStorage, MediaStorageUnavailable, s3_storage


@click.group()
def media() -> None:
    """Media files: move them between storages."""


def destination(settings: Settings) -> str:
    where = f" at {settings.media_s3_endpoint_url}" if settings.media_s3_endpoint_url else ""
    return f"s3://{settings.media_s3_bucket}/{settings.media_s3_prefix}{where}"


def summary(report: MigrationReport) -> list[str]:
    """The report as lines an operator reads."""
    copied = "would copy" if report.dry_run else "copied"
    why = ", ".join(f"{reason} {report.skipped[reason]}" for reason in SKIP_REASONS)
    lines = [
        f"{copied:<10}  {report.copied} files ({report.copied_bytes} bytes)",
        f"{'skipped':<10}  {sum(report.skipped.values())} ({why})",
        f"{'failed':<10}  {len(report.failures)}",
    ]
    lines += [f"  {f.user_id} {f.name!r}: {f.reason}" for f in report.failures]
    return lines


def _terminal_progress(done: int, total: int) -> None:
    click.echo(f"\r{done}/{total} files", nl=done == total, err=True)


@media.command()
@config_option
@click.option(
    "--from-dir",
    type=click.Path(file_okay=False),
    help="The filesystem store to copy from (default: the media_dir setting)",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be copied; change nothing")
@json_option
def migrate(config_file: str | None, from_dir: str | None, dry_run: bool, as_json: bool) -> None:
    """Copy every user's media from a filesystem store into the S3 bucket the
    media_s3_* settings name (media_backend may still say filesystem).

    Files already there are skipped, so a run can be stopped and run again; the source
    is never changed.  Exits 1 when a file could not be copied (each one is listed).
    See docs/operations.md, Moving media to S3.
    """
    settings = settings_from(config_file)
    if not settings.media_s3_bucket:
        raise click.UsageError("set media_s3_bucket (and media_s3_*): the bucket to copy into")
    root = Path(from_dir or settings.media_dir)
    if not root.is_dir():
        raise click.ClickException(f"no media store at {root.absolute()}")
    source = LocalMediaStorage(root)
    target = s3_storage(settings)
    ledger = Ledger(source.root, destination(settings))
    shown = not as_json and sys.stderr.isatty()

    async def run() -> MigrationReport:
        try:
            await target.check()
            return await migrate_media(
                source, target, ledger, dry_run=dry_run,
                progress=_terminal_progress if shown else None,
            )  # fmt: skip
        finally:
            await target.aclose()

    try:
        report = asyncio.run(run())
    except MediaStorageUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        click.echo("\n".join(summary(report)))
    if report.failures:
        sys.exit(1)
