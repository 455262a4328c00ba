"""Redaction (spec §3.9) removes the text from every answer and every stored row: the
message, its callback events (delivered or still pending), and the inbound copy the sandbox
stored when the message went to a number of this platform, with that copy's events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import inspect, text

from tests.conftest import Credentials
from tests.engine.conftest import Bench, Receiver, failing_first
from trebuchet.server.carriers.base import Accepted, CarrierSink, OutboundMessage, Receipt
from trebuchet.server.carriers.sandbox import SandboxCarrier

OWN = "+15550001111"
OTHER_OWN = "+15550002222"
THEIRS = "+15550003333"


def secret() -> str:
    return f"SECRET-{uuid.uuid4().hex}"


async def rows_containing(bench: Bench, needle: str) -> list[str]:
    """Every row of every table of the database (whatever the schema holds) that contains
    ``needle``, as ``table: row``."""
    found: list[str] = []
    async with bench.store.read() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            result = await conn.execute(text(f'SELECT * FROM "{table}"'))
            found += [f"{table}: {row}" for row in result.all() if needle in str(tuple(row))]
    assert "messages" in tables and "events" in tables and "event_attempts" in tables
    return found


async def answers_of(bench: Bench, creds: Credentials, message_ids: list[str]) -> list[str]:
    """The bodies of every API answer about ``message_ids``."""
    http = bench.harness.http(creds)
    base = bench.harness.messages_path(creds)
    urls = [
        base,
        f"{base}?direction=in",
        f"{base}?direction=out",
        f"/v1/users/{creds.user_id}/errors",
    ]
    for message_id in message_ids:
        urls += [f"{base}/{message_id}", f"{base}/{message_id}/events"]
    bodies = []
    for url in urls:
        response = await http.get(url)
        assert response.status_code == 200, (url, response.text)
        bodies.append(response.text)
    return bodies


async def redact(bench: Bench, creds: Credentials, message_id: str) -> None:
    response = await bench.harness.http(creds).patch(
        f"{bench.harness.messages_path(creds)}/{message_id}", json={"text": ""}
    )
    assert response.status_code == 200, response.text


async def inbound_copy(bench: Bench, creds: Credentials) -> dict[str, Any]:
    http = bench.harness.http(creds)
    listed = (await http.get(bench.harness.messages_path(creds), params={"direction": "in"})).json()
    assert len(listed) == 1, listed
    return dict(listed[0])


async def test_redaction_scrubs_every_answer_and_every_row(
    bench: Bench, receiver: Receiver
) -> None:
    words = secret()
    creds = await bench.user([OWN, OTHER_OWN])
    await bench.application(creds, [OTHER_OWN], incomingMessageUrl=receiver.url("/in"))
    # the outbound callback fails once, so one event is still pending when the text goes
    flaky = receiver.on("/out", failing_first(1))
    message_id = await bench.send(
        creds, **{"from": OWN, "to": OTHER_OWN, "text": words, "callbackUrl": flaky,
                  "receiptRequested": "all"},
    )  # fmt: skip
    await bench.run()
    copy = await inbound_copy(bench, creds)
    assert copy["text"] == words and copy["from"] == OWN and copy["to"] == OTHER_OWN
    events = await bench.events(creds, message_id)
    assert any(e["state"] == "pending" for e in events)  # the sent event, to be retried
    assert any(a["status"] == 500 for e in events for a in e["attempts"])
    assert any(words in body for body in await answers_of(bench, creds, [message_id, copy["id"]]))
    assert await rows_containing(bench, words)  # the check below can find it

    await redact(bench, creds, message_id)

    for body in await answers_of(bench, creds, [message_id, copy["id"]]):
        assert words not in body
    assert (await bench.message(creds, message_id))["text"] == ""
    assert (await bench.message(creds, copy["id"]))["text"] == ""
    payloads = [
        e["payload"] for m in (message_id, copy["id"]) for e in await bench.events(creds, m)
    ]
    assert payloads and all(p["text"] == "" for p in payloads)
    assert await rows_containing(bench, words) == []

    # the pending event is delivered later, without the text
    delivered_before = len(receiver.hits)
    await bench.run_for(5)
    late = receiver.hits[delivered_before:]
    assert late and all(words.encode() not in hit.body for hit in late)
    assert await rows_containing(bench, words) == []


async def test_a_copy_in_another_account_is_scrubbed_too(bench: Bench) -> None:
    """The sandbox stored the copy only to simulate delivery; the sender's redaction
    removes the text from the platform, wherever the sandbox put it."""
    words = secret()
    alice = await bench.user([OWN])
    bob = await bench.user([THEIRS])
    message_id = await bench.send(alice, **{"from": OWN, "to": THEIRS, "text": words})
    await bench.run()
    copy = await inbound_copy(bench, bob)
    assert copy["text"] == words

    await redact(bench, alice, message_id)
    assert (await bench.message(bob, copy["id"]))["text"] == ""
    assert await rows_containing(bench, words) == []


async def test_redacting_the_copy_leaves_the_original(bench: Bench) -> None:
    words = secret()
    creds = await bench.user([OWN, OTHER_OWN])
    message_id = await bench.send(creds, **{"from": OWN, "to": OTHER_OWN, "text": words})
    await bench.run()
    copy = await inbound_copy(bench, creds)
    await redact(bench, creds, copy["id"])
    assert (await bench.message(creds, copy["id"]))["text"] == ""
    assert (await bench.message(creds, message_id))["text"] == words


class RedactingWhileSending:
    """The sandbox, but the message is redacted through the API after the worker claimed
    it and before the carrier answers: the copy and the events come after the redaction."""

    name = "sandbox"

    def __init__(self, http: httpx.AsyncClient, path: str) -> None:
        self._inner = SandboxCarrier()
        self._http = http
        self._path = path

    def bind(self, sink: CarrierSink) -> None:
        self._inner.bind(sink)

    async def send(self, message: OutboundMessage) -> Accepted:
        response = await self._http.patch(f"{self._path}/{message.id}", json={"text": ""})
        assert response.status_code == 200, response.text
        return await self._inner.send(message)  # still holding the old text

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        return await self._inner.poll_receipt(message, carrier_ref)

    async def close(self) -> None:
        await self._inner.close()


async def test_a_redaction_during_the_send_still_wins(
    make_bench: Any, harness: Any, receiver: Receiver
) -> None:
    words = secret()
    creds = await harness.create_user([OWN, OTHER_OWN])
    carrier = RedactingWhileSending(harness.http(creds), harness.messages_path(creds))
    bench: Bench = await make_bench(carrier=carrier)
    await bench.application(creds, [OTHER_OWN], incomingMessageUrl=receiver.url("/in"))
    message_id = await bench.send(
        creds, **{"from": OWN, "to": OTHER_OWN, "text": words, "callbackUrl": receiver.url("/out"),
                  "receiptRequested": "all"},
    )  # fmt: skip
    await bench.run()
    assert (await bench.message(creds, message_id))["state"] == "sent"
    copy = await inbound_copy(bench, creds)
    assert copy["text"] == ""
    assert receiver.at("/out") and receiver.at("/in")
    assert all(words.encode() not in hit.body for hit in receiver.hits)
    for body in await answers_of(bench, creds, [message_id, copy["id"]]):
        assert words not in body
    assert await rows_containing(bench, words) == []
