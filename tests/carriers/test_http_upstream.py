"""HTTP upstream carriers: one Trebuchet relaying to another over loopback (receipts and
inbound messages flowing back), a generic JSON upstream, and the events endpoint."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.carriers import rawhttp
from tests.carriers.test_smpp_carrier import out
from tests.conftest import (
    Credentials,
    Harness,
    LiveServer,
    make_settings,
    serve_http,
    start_live_server,
)
from tests.engine.conftest import BenchFactory, Receiver
from trebuchet.server.carriers.base import PermanentFailure, TransientFailure, Unanswered
from trebuchet.server.carriers.failover import FailoverPolicy
from trebuchet.server.carriers.http_upstream import HttpUpstreamCarrier, UpstreamConfig
from trebuchet.server.carriers.refs import MemoryRefs
from trebuchet.server.carriers.routing import Route, RoutingCarrier, build_carrier

FROM, OWNED, OTHER = "+15550001111", "+15550003333", "+15557654321"
TOKEN = "events-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not in time")


class Chain:
    def __init__(self, tmp_path: Path):
        fast = {"poll_interval": 0.05, "outbound_allow_loopback": True, "admin_token": "adm"}
        upstream_settings = make_settings(f"sqlite:///{tmp_path / 'up.db'}",
                                          media_dir=str(tmp_path / "m1"), **fast)  # fmt: skip
        self.up, self._up_server, self._up_thread = start_live_server(upstream_settings)
        self.up_user = self.up.create_user([FROM, OWNED])
        port = free_port()
        carrier = {
            "type": "catapult", "url": self.up.base_url, "user_id": self.up_user.user_id,
            "api_token": self.up_user.api_token, "api_secret": self.up_user.api_secret,
            "events_token": TOKEN,
            "callback_url": f"http://127.0.0.1:{port}/v1/carriers/up/events?token={TOKEN}",
        }  # fmt: skip
        settings = make_settings(f"sqlite:///{tmp_path / 'down.db'}",
                                 media_dir=str(tmp_path / "m2"), carrier="up",
                                 carriers={"up": carrier}, **fast)  # fmt: skip
        self.down, self._down_server, self._down_thread = start_live_server(settings, port)
        self.down_user = self.down.create_user([FROM, OWNED])

    def close(self) -> None:
        for server, thread in ((self._down_server, self._down_thread),
                               (self._up_server, self._up_thread)):  # fmt: skip
            server.should_exit = True
            thread.join(timeout=15)

    @staticmethod
    def client(live: LiveServer, user: Credentials) -> httpx.Client:
        return httpx.Client(base_url=live.base_url, auth=user.auth, timeout=10)

    def message(self, live: LiveServer, user: Credentials, message_id: str) -> dict[str, Any]:
        with self.client(live, user) as http:
            return dict(http.get(f"/v1/users/{user.user_id}/messages/{message_id}").json())


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    made = Chain(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _send(chain: Chain, **body: Any) -> str:
    with chain.client(chain.down, chain.down_user) as http:
        response = http.post(f"/v1/users/{chain.down_user.user_id}/messages", json=body)
    assert response.status_code == 201, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def test_relayed_to_another_trebuchet_and_the_receipt_comes_back(chain: Chain) -> None:
    message_id = _send(chain, **{"from": FROM, "to": OTHER, "text": "chained",
                                 "receiptRequested": "all"})  # fmt: skip

    def delivered() -> dict[str, Any] | None:
        found = chain.message(chain.down, chain.down_user, message_id)
        return found if found.get("deliveryState") == "delivered" else None

    message = wait_for(delivered)
    assert (message["state"], message["deliveryCode"]) == ("sent", 0)
    with chain.client(chain.up, chain.up_user) as http:
        upstream = http.get(f"/v1/users/{chain.up_user.user_id}/messages").json()
    [relayed] = [m for m in upstream if m["direction"] == "out"]
    assert (relayed["text"], relayed["tag"], relayed["state"]) == ("chained", message_id, "sent")


def test_a_not_delivered_receipt_upstream_is_not_delivered_here(chain: Chain) -> None:
    message_id = _send(chain, **{"from": FROM, "to": "+15559990720", "text": "x",
                                 "receiptRequested": "error"})  # fmt: skip

    def settled() -> dict[str, Any] | None:
        found = chain.message(chain.down, chain.down_user, message_id)
        return found if found.get("deliveryState") == "not-delivered" else None

    assert wait_for(settled)["deliveryCode"] == 720


def test_a_refusal_upstream_is_an_error_here(chain: Chain) -> None:
    chain.down.create_user(["+15550009999"])  # a number the upstream account does not own
    other = chain.down.create_user(["+15550008888"])
    with chain.client(chain.down, other) as http:
        response = http.post(f"/v1/users/{other.user_id}/messages",
                             json={"from": "+15550008888", "to": OTHER, "text": "x"})  # fmt: skip
    message_id = response.headers["location"].rsplit("/", 1)[1]

    def failed() -> dict[str, Any] | None:
        found = chain.message(chain.down, other, message_id)
        return found if found["state"] == "error" else None

    wait_for(failed)


def test_inbound_messages_upstream_come_down(chain: Chain) -> None:
    with chain.client(chain.up, chain.up_user) as http:
        app = http.post(f"/v1/users/{chain.up_user.user_id}/applications", json={
            "name": "relay", "incomingMessageUrl":
            f"{chain.down.base_url}/v1/carriers/up/events?token={TOKEN}"})  # fmt: skip
        app_id = app.headers["location"].rsplit("/", 1)[1]
        linked = http.post(f"/v1/users/{chain.up_user.user_id}/phoneNumbers/{OWNED}",
                           json={"applicationId": app_id})  # fmt: skip
        assert linked.status_code == 200, linked.text
        injected = httpx.post(f"{chain.up.base_url}/v1/admin/inbound",
                              headers={"Authorization": "Bearer adm"},
                              json={"from": OTHER, "to": OWNED, "text": "from afar"})  # fmt: skip
        assert injected.status_code == 201, injected.text

    def arrived() -> list[dict[str, Any]]:
        with chain.client(chain.down, chain.down_user) as http:
            found = http.get(f"/v1/users/{chain.down_user.user_id}/messages").json()
        return [m for m in found if m["direction"] == "in"]

    [message] = wait_for(arrived)
    assert (message["from"], message["to"], message["text"]) == (OTHER, OWNED, "from afar")


# -- the events endpoint, in process -----------------------------------------------------


def _generic(receiver: Receiver) -> dict[str, Any]:
    return {
        "type": "http", "url": receiver.url("/send/{to}"),
        "headers": {"Authorization": "Bearer provider-key"},
        "body": {"msg": {"to": "{to}", "from": "{from}", "body": "{text}"}, "ref": "{id}",
                 "hook": "{callback_url}"},
        "ref_field": "data.id", "events_secret": "s3cret", "events_token": TOKEN,
        "status_codes": {"bounced": 650},
    }  # fmt: skip


async def _answer(request: web.Request, count: int) -> web.StreamResponse:
    return web.json_response({"data": {"id": f"prov-{count}"}})


def _signed(body: dict[str, Any], secret: str = "s3cret") -> dict[str, Any]:
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"X-Trebuchet-Signature": f"sha256={signature}"}}


@pytest.mark.parametrize(("status", "code"), [("delivered", 0), ("bounced", 650)])
async def test_a_generic_json_upstream_and_its_signed_receipts(
    make_bench: BenchFactory, harness: Harness, receiver: Receiver, status: str, code: int
) -> None:
    receiver.on("/send/+15557654321", _answer)
    carriers = {"gen": _generic(receiver)}
    settings = replace(harness.settings, carrier="gen", carriers=carriers)
    harness.app.state.services.settings = settings
    bench = await make_bench(carrier=build_carrier(settings, harness.store))
    user = await bench.user([FROM])
    message_id = await bench.send(user, **{"from": FROM, "to": OTHER, "text": "hi \"there\"",
                                           "receiptRequested": "all"})  # fmt: skip
    await bench.run()
    [hit] = receiver.at("/send/+15557654321")
    assert hit.headers["Authorization"] == "Bearer provider-key"
    assert hit.headers["Idempotency-Key"] == message_id
    sent = hit.json()
    assert sent["msg"] == {"to": OTHER, "from": FROM, "body": 'hi "there"'}
    assert sent["ref"] == message_id and sent["hook"].endswith("/v1/carriers/gen/events?token="
                                                               + TOKEN)  # fmt: skip
    http = harness.http()
    event = {"type": "receipt", "ref": "prov-0", "status": status}
    answer = await http.post("/v1/carriers/gen/events", **_signed(event))
    assert answer.status_code == 200 and answer.json() == {"done": "receipt"}
    again = await http.post("/v1/carriers/gen/events", **_signed(event))
    assert again.json() == {"done": "ignored"}  # a repeat
    message = await bench.message(user, message_id)
    assert message["deliveryCode"] == code


async def test_events_endpoint_refuses_strangers(harness: Harness, receiver: Receiver) -> None:
    carriers = {"gen": _generic(receiver), "box": {"type": "sandbox"}}
    harness.app.state.services.settings = replace(harness.settings, carriers=carriers)
    http = harness.http()
    event = {"type": "receipt", "ref": "x", "status": "delivered"}
    assert (await http.post("/v1/carriers/gen/events", json=event)).status_code == 401
    wrong = _signed(event, "not-the-secret")
    assert (await http.post("/v1/carriers/gen/events", **wrong)).status_code == 401
    assert (await http.post("/v1/carriers/box/events", json=event)).status_code == 404
    assert (await http.post("/v1/carriers/nope/events", json=event)).status_code == 404
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    bad = await http.post("/v1/carriers/gen/events", content=b"{", headers=bearer)
    assert bad.status_code == 400
    unknown = await http.post("/v1/carriers/gen/events", json={"type": "other"}, headers=bearer)
    assert unknown.json() == {"done": "ignored"}


async def test_inbound_from_a_generic_upstream(harness: Harness, receiver: Receiver) -> None:
    carriers = {"gen": _generic(receiver)}
    harness.app.state.services.settings = replace(harness.settings, carriers=carriers)
    user = await harness.create_user([OWNED])
    http = harness.http()
    event = {"type": "inbound", "from": OTHER, "to": OWNED, "text": "hello", "id": "p-9"}
    for _ in range(2):  # the provider's id keeps a repeat from being stored twice
        answer = await http.post(f"/v1/carriers/gen/events?token={TOKEN}", json=event)
        assert answer.json() == {"done": "inbound"}
    listed = (await harness.http(user).get(f"/v1/users/{user.user_id}/messages")).json()
    assert [(m["direction"], m["text"]) for m in listed] == [("in", "hello")]
    nobody = {**event, "to": "+15550004444"}
    assert (await http.post(f"/v1/carriers/gen/events?token={TOKEN}",
                            json=nobody)).status_code == 404  # fmt: skip


@pytest.mark.parametrize(
    ("status", "failure"),
    [(503, TransientFailure), (429, TransientFailure), (400, PermanentFailure),
     (403, PermanentFailure)],
)  # fmt: skip
async def test_upstream_answers_are_translated(
    receiver: Receiver, status: int, failure: type[Exception]
) -> None:
    async def answer(request: web.Request, count: int) -> web.StreamResponse:
        return web.Response(status=status, headers={"Retry-After": "7"})

    receiver.on("/send/+15557654321", answer)
    config = UpstreamConfig.from_mapping("gen", _generic(receiver))
    carrier = HttpUpstreamCarrier("gen", config, MemoryRefs(), "http://cb")
    try:
        with pytest.raises(failure) as caught:
            await carrier.send(out())
        if isinstance(caught.value, TransientFailure):
            assert caught.value.retry_after == 7.0
    finally:
        await carrier.close()


async def test_an_unreachable_upstream_is_transient() -> None:
    config = UpstreamConfig.from_mapping(
        "gen", {"type": "http", "events_token": "t", "url": f"http://127.0.0.1:{free_port()}/x"}
    )
    carrier = HttpUpstreamCarrier("gen", config, MemoryRefs(), "http://cb")
    try:
        with pytest.raises(TransientFailure, match="unreachable"):
            await carrier.send(out())
    finally:
        await carrier.close()


def _upstream(url: str, timeout: float = 5.0) -> HttpUpstreamCarrier:
    values = {"type": "http", "events_token": "t", "url": f"{url}/send", "timeout": timeout}
    return HttpUpstreamCarrier("gen", UpstreamConfig.from_mapping("gen", values), MemoryRefs(),
                               "http://cb")  # fmt: skip


async def test_no_connection_in_time_is_a_retry_not_unanswered() -> None:
    with rawhttp.unconnectable() as url:
        carrier = _upstream(url, timeout=0.3)
        try:
            with pytest.raises(TransientFailure, match="unreachable: ") as raised:
                await carrier.send(out())
            assert not isinstance(raised.value, Unanswered)  # nothing went out
        finally:
            await carrier.close()


@pytest.mark.parametrize(
    ("mode", "said"),
    [("silent", "upstream did not answer"), ("drop", "dropped the connection before answering")],
)
async def test_no_answer_once_the_request_went_out_is_unanswered(mode: str, said: str) -> None:
    async with rawhttp.raw_peer(mode) as peer:
        carrier = _upstream(peer.url, timeout=0.3)
        try:
            with pytest.raises(Unanswered, match=said):
                await carrier.send(out())
        finally:
            await carrier.close()
        assert len(peer.requests) == 1  # it arrived whole: the upstream may have taken it


@pytest.mark.parametrize("mode", ["unconnectable", "silent", "drop"])
async def test_on_timeout_fail_never_sends_a_message_twice(mode: str) -> None:
    """Through the router with ``on_timeout = fail``: a message that never left goes to
    the next carrier; one that left and got no answer ends there, sent at most once."""
    taken: list[str] = []

    async def accept(request: web.Request) -> web.StreamResponse:
        taken.append((await request.json())["ref"])
        return web.json_response({"id": "b-1"}, status=201)

    async with contextlib.AsyncExitStack() as stack:
        if mode == "unconnectable":
            first, peer = stack.enter_context(rawhttp.unconnectable()), None
        else:
            peer = await stack.enter_async_context(rawhttp.raw_peer(mode))
            first = peer.url
        second = await stack.enter_async_context(serve_http(accept))
        body = {"ref": "{id}"}
        b = HttpUpstreamCarrier(
            "b", UpstreamConfig.from_mapping("b", {"type": "http", "events_token": "t",
                                                   "url": f"{second}/send", "body": body}),
            MemoryRefs(), "http://cb",
        )  # fmt: skip
        router = RoutingCarrier(
            {"a": _upstream(first, timeout=0.3), "b": b}, [Route("a", fallbacks=("b",))], "a",
            policies={"a": FailoverPolicy(on_timeout="fail")},
        )  # fmt: skip
        stack.push_async_callback(router.close)
        message = out()
        if peer is None:  # nothing went out: the next carrier sends it
            accepted = await router.send(message)
            assert accepted.carrier == "b" and taken == [message.id]
        else:
            with pytest.raises(PermanentFailure, match="on_timeout = fail"):
                await router.send(message)
            assert (len(peer.requests), taken) == (1, [])


def test_upstream_configuration_mistakes() -> None:
    with pytest.raises(ValueError, match="missing user_id"):
        UpstreamConfig.from_mapping("c", {"type": "catapult", "url": "http://x",
                                          "events_token": "t"})  # fmt: skip
    with pytest.raises(ValueError, match="events_token"):
        UpstreamConfig.from_mapping("c", {"type": "http", "url": "http://x"})
    with pytest.raises(ValueError, match="unknown settings"):
        UpstreamConfig.from_mapping("c", {"type": "http", "url": "x", "events_token": "t",
                                          "bdy": {}})  # fmt: skip
