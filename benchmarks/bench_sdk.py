"""The SDK against raw httpx on the same server: paging 1000-message pages, single sends."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import msgspec

import trebuchet
from benchmarks.common import Row, median
from benchmarks.processes import Account, trebuchet_server
from benchmarks.seed import seed_messages
from trebuchet.server.store import Store

PAGING_TARGET = 0.8
SEND_TARGET = 1.15
NUMBERS = ("+15550100001", "+15550100002")


async def _prepare(db: str, count: int) -> Account:
    store = Store(db)
    await store.open()
    try:
        created = await store.users.create(list(NUMBERS))
        await seed_messages(store, created.user.id, count)
    finally:
        await store.close()
    return Account(created.user.id, created.user.api_token, created.api_secret, list(NUMBERS))


def _raw_paging(base: str, account: Account) -> int:
    seen = 0
    with httpx.Client(auth=account.auth) as http:
        url: str | None = f"{base}/v1/users/{account.user_id}/messages?size=1000"
        while url:
            response = http.get(url)
            response.raise_for_status()
            seen += len(msgspec.json.decode(response.content))
            url = response.links.get("next", {}).get("url")
    return seen


def _sdk_paging(base: str, account: Account) -> int:
    with trebuchet.Client(account.user_id, account.token, account.secret, api_endpoint=base) as api:
        return sum(1 for _ in api.list_messages(size=1000))


def _timed(fn: object, *args: object) -> tuple[float, int]:
    started = time.perf_counter()
    count = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started, count  # type: ignore[return-value]


def _raw_sends(base: str, account: Account, n: int) -> float:
    body = {
        "from": NUMBERS[0],
        "to": NUMBERS[1],
        "text": "Hello",
        "media": None,
        "receiptRequested": None,
        "callbackUrl": None,
        "callbackHttpMethod": None,
        "callbackTimeout": None,
        "fallbackUrl": None,
        "tag": None,
    }
    url = f"{base}/v1/users/{account.user_id}/messages"
    with httpx.Client(auth=account.auth) as http:
        started = time.perf_counter()
        for _ in range(n):
            response = http.post(
                url,
                content=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            response.headers["location"].rsplit("/", 1)
        return (time.perf_counter() - started) / n


def _sdk_sends(base: str, account: Account, n: int) -> float:
    with trebuchet.Client(account.user_id, account.token, account.secret, api_endpoint=base) as api:
        started = time.perf_counter()
        for _ in range(n):
            api.send_message(from_=NUMBERS[0], to=NUMBERS[1], text="Hello")
        return (time.perf_counter() - started) / n


def sdk(db: str, *, count: int, rounds: int, sends: int) -> list[Row]:
    account = asyncio.run(_prepare(db, count))
    paging, send_ratio = [], []
    with trebuchet_server(db, engine="false") as (base, _):
        _sdk_paging(base, account)  # warm the server's page cache
        expected = count
        for _ in range(rounds):
            raw_s, raw_n = _timed(_raw_paging, base, account)
            sdk_s, sdk_n = _timed(_sdk_paging, base, account)
            if raw_n != expected or sdk_n != expected:
                raise RuntimeError(f"paged {raw_n} / {sdk_n} of {expected} messages")
            paging.append(raw_s / sdk_s)
            raw_send = _raw_sends(base, account, sends)
            sdk_send = _sdk_sends(base, account, sends)
            send_ratio.append(sdk_send / raw_send)
            expected += 2 * sends
    page_ratio, call_ratio = median(paging), median(send_ratio)
    return [
        Row(
            f"SDK list_messages(size=1000) over {count:,}",
            f"{page_ratio:.2f} of raw httpx + msgspec",
            f">= {PAGING_TARGET}",
            page_ratio >= PAGING_TARGET,
            f"median of {rounds} alternating runs; snake_case dicts vs raw decoded JSON",
        ),
        Row(
            "SDK send_message per call",
            f"{call_ratio:.2f}x raw httpx POST",
            f"<= {SEND_TARGET}x",
            call_ratio <= SEND_TARGET,
            f"{sends} sequential calls per run, same body and headers",
        ),
    ]
