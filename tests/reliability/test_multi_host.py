"""A multi-host rehearsal on one machine: nginx in front of API "hosts" that share nothing
but PostgreSQL (and, for media, object storage).

Each API process and each worker has a media directory of its own, as separate machines
would.  nginx runs the shipped ``deploy/nginx.conf`` (see :mod:`tests.reliability.nginx`);
every request below goes through it, and its ``X-Upstream`` header tells which host
answered.  docs/scaling.md describes the same layout for real machines.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.reliability.cluster import (
    Account,
    Cluster,
    EventReceiver,
    Proc,
    create_account,
    event_receiver,
    free_port,
    ledger,
    messages,
    outcome,
    settle,
    submit,
)
from tests.reliability.nginx import Nginx, nginx_binary, running_nginx
from tests.s3 import moto_server
from trebuchet.server.store import Store
from trebuchet.server.store import tables as t

pytestmark = pytest.mark.postgres

HOSTS = 3
WORKERS = 2
FROM = "+15550001111"
TO = "+15557654321"


@dataclass
class Site:
    """The load balancer, the API hosts behind it and the workers."""

    cluster: Cluster
    nginx: Nginx
    apis: list[Proc]
    workers: list[Proc]
    account: Account
    receiver: EventReceiver

    @property
    def url(self) -> str:
        return self.nginx.base_url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, auth=self.account.auth, timeout=10)


def _nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("no nginx binary (apt-get install nginx) to run the load balancer")
    return binary


@asynccontextmanager
async def site(
    db: str, work_dir: Path, *, env: dict[str, str] | None = None, **settings: Any
) -> AsyncIterator[Site]:
    """``HOSTS`` API processes (engine off) and ``WORKERS`` workers, each host with its
    own media directory, behind nginx.  The API processes build their URLs from the
    request (no ``public_url``); the workers put nginx's address in ``messageUri``."""
    binary = _nginx()
    account = await create_account(db, [FROM])
    async with event_receiver() as receiver:
        with Cluster(db, work_dir, **settings) as cluster:
            cluster.env.update(env or {})
            apis = [cluster.serve(media_dir=work_dir / f"host-{i}" / "media") for i in range(HOSTS)]
            lb_port = free_port()
            workers = [
                cluster.worker(
                    media_dir=work_dir / f"host-{i}" / "media",
                    public_url=f"http://127.0.0.1:{lb_port}",
                )
                for i in range(WORKERS)
            ]
            await cluster.ready(*apis, *workers)
            upstreams = [f"127.0.0.1:{p.port}" for p in apis]
            with running_nginx(binary, upstreams, port=lb_port) as nginx:
                yield Site(cluster, nginx, apis, workers, account, receiver)


async def _served_elsewhere(
    http: httpx.AsyncClient, path: str, not_by: str, tries: int = 3 * HOSTS
) -> httpx.Response:
    """GET ``path`` through nginx until a host other than ``not_by`` answers it."""
    for _ in range(tries):
        response = await http.get(path)
        if response.headers["X-Upstream"] != not_by:
            return response
    raise AssertionError(f"nginx sent every GET {path} to {not_by}")


def _next_link(response: httpx.Response) -> str | None:
    link: str | None = response.headers.get("Link")
    if not link:
        return None
    assert link.startswith("<") and link.endswith('>; rel="next"'), link
    return link[1 : -len('>; rel="next"')]


async def test_requests_through_nginx_reach_every_host(postgres_url: str, work_dir: Path) -> None:
    async with site(postgres_url, work_dir) as s, s.client() as http:
        path = s.account.messages_path
        callback = s.receiver.url
        answered_by: set[str] = set()

        # One message: accepted by one host, read back by id from another.
        one = {"from": FROM, "to": TO, "text": "single", "callbackUrl": callback}
        sent = await http.post(path, json=one)
        assert sent.status_code == 201, sent.text
        location = sent.headers["Location"]
        assert location.startswith(f"{s.url}{path}/"), location
        single_id = location.rsplit("/", 1)[1]
        fetched = await _served_elsewhere(http, f"{path}/{single_id}", sent.headers["X-Upstream"])
        assert fetched.status_code == 200 and fetched.json()["id"] == single_id
        answered_by |= {sent.headers["X-Upstream"], fetched.headers["X-Upstream"]}

        # Bulk: 120 messages in three requests of 40, each with its own Idempotency-Key.
        bulk = await submit([s.url], s.account, messages(120, callback, tag="bulk"), bulk=40)
        assert bulk.given_up == 0 and bulk.statuses.keys() == {202}
        assert len(set(bulk.accepted)) == 120
        all_ids = {single_id, *bulk.accepted}

        # The list pages by Link: every next URL is nginx's, the address the client used,
        # even when the client sends forwarding headers of its own (nginx replaces them).
        spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
        listed: list[str] = []
        url: str | None = f"{path}?size=25"
        pages = 0
        while url is not None:
            page = await http.get(url, headers=spoofed)
            assert page.status_code == 200, page.text
            answered_by.add(page.headers["X-Upstream"])
            listed += [m["id"] for m in page.json()]
            url = _next_link(page)
            if url is not None:
                assert url.startswith(f"{s.url}{path}?"), f"Link points elsewhere: {url}"
            pages += 1
            assert pages <= 10
        assert sorted(listed) == sorted(all_ids)
        assert len(answered_by) == HOSTS, f"nginx used only {answered_by}"

        # Callbacks: every accepted message is sent by a worker and its event delivered
        # to the loopback receiver, with a messageUri under nginx's address.
        await settle(postgres_url, s.account, s.receiver, expected_events=121, within=90)
        found = await outcome(postgres_url, s.account.user_id)
        books = ledger(sorted(all_ids), found, s.cluster.sends(), s.receiver)
        assert books.lost == 0 and books.unfinished == [], s.cluster.logs()
        assert books.never_sent == [] and books.duplicate_sends == 0
        assert books.sent_events == 121 and books.events_missing == []
        assert await _message_uris(postgres_url, s.account.user_id) == {
            f"{s.url}{path}/{mid}" for mid in all_ids
        }


async def _message_uris(db: str, user_id: str) -> set[str]:
    store = Store(db)
    await store.open(run_migrations=False)
    try:
        async with store.read() as conn:
            rows = await conn.execute(
                select(t.events.c.payload).where(t.events.c.user_id == user_id)
            )
            return {json.loads(row.payload)["messageUri"] for row in rows}
    finally:
        await store.close()


async def test_killing_an_api_host_mid_run_loses_nothing_acknowledged(
    postgres_url: str, work_dir: Path
) -> None:
    total, bulk = 1500, 50
    async with site(postgres_url, work_dir) as s:
        batches = total // bulk
        # Batches start 0.1 s apart, so the kill lands while requests are in flight.
        sending = asyncio.create_task(
            submit(
                [s.url],
                s.account,
                messages(total, s.receiver.url, tag="kill"),
                concurrency=4,
                interval=0.1,
                deadline_seconds=90,
            )
        )
        await asyncio.sleep(batches * 0.1 / 3)
        Cluster.kill(s.apis[1])
        killed_while_sending = not sending.done()
        submission = await sending
        assert killed_while_sending, "the submission ended before the kill; nothing was tested"
        # Every batch was acknowledged in the end (nginx moved refused connections to
        # the other hosts, and requests cut by the kill were retried with their key).
        assert submission.given_up == 0, submission.errors
        assert len(submission.accepted) == total == len(set(submission.accepted))

        await settle(postgres_url, s.account, s.receiver, expected_events=total, within=120)
        found = await outcome(postgres_url, s.account.user_id)
        assert len(found.messages) == total, "a retried request created messages twice"
        books = ledger(submission.accepted, found, s.cluster.sends(), s.receiver)
        assert books.lost == 0 and books.unfinished == [], s.cluster.logs()
        assert books.never_sent == [] and books.duplicate_sends == 0
        assert books.events_missing == []


async def test_media_uploaded_through_one_host_is_read_through_another(
    postgres_url: str, work_dir: Path
) -> None:
    with moto_server() as endpoint:
        boto3 = pytest.importorskip("boto3")
        bucket, region = f"trebuchet-{uuid.uuid4().hex[:8]}", "us-east-1"
        credentials = {
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_DEFAULT_REGION": region,
        }
        boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, **_boto_keys(credentials)
        ).create_bucket(Bucket=bucket)
        s3: dict[str, Any] = {
            "media_backend": "s3",
            "media_s3_bucket": bucket,
            "media_s3_endpoint_url": endpoint,
            "media_s3_region": region,
            "media_s3_prefix": "rehearsal/",
        }
        async with site(postgres_url, work_dir, env=credentials, **s3) as s, s.client() as http:
            media = f"/v1/users/{s.account.user_id}/media/card.png"
            body = os.urandom(4096)
            put = await http.put(media, content=body, headers={"Content-Type": "image/png"})
            assert put.status_code in (200, 201), put.text
            got = await _served_elsewhere(http, media, put.headers["X-Upstream"])
            assert got.status_code == 200 and got.content == body
            # A worker (another host again) reads it from the bucket to send an MMS.
            mms = {"from": FROM, "to": TO, "media": [f"{s.url}{media}"]}
            mms["callbackUrl"] = s.receiver.url
            sent = await http.post(s.account.messages_path, json=mms)
            assert sent.status_code == 201, sent.text
            await settle(postgres_url, s.account, s.receiver, expected_events=1, within=60)
            found = await outcome(postgres_url, s.account.user_id)
            assert [m.state for m in found.messages.values()] == ["sent"], s.cluster.logs()


def _boto_keys(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
    }
