"""Media through the API: upload, download and a ranged download, with the S3 backend
(moto's server on loopback) against the filesystem backend, alternating, in one run.

    .venv/bin/python -m benchmarks.bench_media
    .venv/bin/python -m benchmarks.bench_media --quick

The app runs in process (httpx over ASGI, SQLite store), so the figure is the storage's
share of a media request.  moto is a test double written in Python, not a performance
reference for S3 or any S3-compatible store: the ratio says how the S3 path behaves
against a real HTTP endpoint on loopback, no more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests import s3

from benchmarks.common import Row, median, sqlite_database
from trebuchet.server.api.app import create_app
from trebuchet.server.config import Settings
from trebuchet.server.store import Store

FILE_BYTES = 256 * 1024
RANGE = "bytes=1000-66535"


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """The test credentials in the environment for the benchmark only."""
    saved = {name: os.environ.get(name) for name in s3.FAKE_AWS_ENV}
    os.environ.update(s3.FAKE_AWS_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _round(settings: Settings, files: int) -> float:
    """Files per second through upload + download + ranged download."""
    store = Store(settings.db)
    await store.open()
    app = create_app(settings, store)
    body = bytes(range(256)) * (FILE_BYTES // 256)
    try:
        async with app.router.lifespan_context(app):
            created = await store.users.create([])
            user, auth = created.user.id, (created.user.api_token, created.api_secret)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", auth=auth
            ) as http:
                base = f"/v1/users/{user}/media"
                # One file first, untimed: the S3 client is made on first use.
                await http.put(f"{base}/warm-up", content=body)
                started = time.perf_counter()
                for index in range(files):
                    path = f"{base}/bench/{index}.bin"
                    put = await http.put(path, content=body, headers={"Content-Type": "video/mp4"})
                    got = await http.get(path)
                    ranged = await http.get(path, headers={"Range": RANGE})
                    if (put.status_code, got.status_code, ranged.status_code) != (200, 200, 206):
                        raise RuntimeError(f"unexpected answers on {path}")
                    if got.content != body:
                        raise RuntimeError(f"{path} came back different")
                elapsed = time.perf_counter() - started
    finally:
        await store.close()
    return files / elapsed


def media_round_trip(work: Path, *, rounds: int = 3, files: int = 40) -> Row:
    if not s3.MOTO:
        return Row("media upload + download, S3 (moto) vs filesystem", "skipped", "report",
                   None, s3.MOTO_MISSING)  # fmt: skip
    rates: dict[str, list[float]] = {"filesystem": [], "s3": []}
    with s3.moto_server() as endpoint, fake_aws_env():
        for number in range(rounds):
            db = sqlite_database(work, f"media{number}.db")
            local = Settings(db=db, media_dir=str(work / f"media{number}"), engine=False)
            remote = Settings(
                db=db,
                engine=False,
                media_backend="s3",
                media_s3_bucket=s3.new_bucket(endpoint),
                media_s3_endpoint_url=endpoint,
            )
            rates["filesystem"].append(asyncio.run(_round(local, files)))
            rates["s3"].append(asyncio.run(_round(remote, files)))
    ratios = [a / b for a, b in zip(rates["s3"], rates["filesystem"], strict=True)]
    return Row(
        "media upload + download, S3 (moto) vs filesystem",
        f"{median(ratios):.2f} of filesystem",
        "report",
        None,
        f"median of {rounds} alternating rounds of {files} files of {FILE_BYTES // 1024} KiB "
        f"(PUT, GET, ranged GET); {median(rates['s3']):.0f} vs "
        f"{median(rates['filesystem']):.0f} files/s; in-process app, SQLite; moto is a "
        "test double, not a performance reference",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trebuchet-media-bench-") as tmp:
        row = media_round_trip(Path(tmp), rounds=1 if args.quick else 3,
                               files=5 if args.quick else 40)  # fmt: skip
    print(f"| {row.benchmark} | {row.measured} | {row.target} | - | {row.detail} |")


if __name__ == "__main__":
    main()
