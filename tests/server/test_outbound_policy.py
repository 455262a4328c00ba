"""The outbound address policy: which hosts callbacks and media fetches may reach.

Ranges are judged offline against the policy object; the only traffic is to loopback.
Callback URLs are refused when a message or application names them, and credentials in
them are masked whenever the API shows them back.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import Harness, harnessed, make_settings, serve_http
from trebuchet.server.config import Settings, load_settings
from trebuchet.server.net.addresses import address_kind, host_address
from trebuchet.server.net.guard import AddressPolicy, AddressRefused
from trebuchet.server.net.resolver import GuardedResolver
from trebuchet.server.store import MessageFilter

DEFAULT = AddressPolicy()
LOOPBACK = AddressPolicy(allow_loopback=True)
PRIVATE = AddressPolicy(allow_private=True)
FROM = "+15550001111"
TO = "+15557654321"

LOOPBACK_HOSTS = [
    "127.0.0.1",
    "127.255.255.254",
    "127.1",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "017700000001",
    "127.0.0.1.",
    "%31%32%37.0.0.1",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
    "[64:ff9b::7f00:1]",  # NAT64 around 127.0.0.1
    "0.0.0.0",
    "0",
    "[::]",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "api.localhost",
]
PRIVATE_HOSTS = [
    "10.0.0.1",
    "0xa.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space
    "100.100.100.200",  # a cloud metadata address inside it
    "169.254.169.254",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "[fec0::1]",  # site-local, deprecated but not global
    "[fd00::1]",
    "[fc00::1]",
    "[ff02::1]",
    "[2001:db8::1]",
    "[2002:a00:1::]",  # 6to4 around 10.0.0.1
    "[2002:a9fe:a9fe::]",  # 6to4 around 169.254.169.254
    "[::ffff:10.0.0.1]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a00:1]",  # NAT64 around 10.0.0.1
    "[64:ff9b:1::1]",
    "[::7f00:1]",  # IPv4-compatible, deprecated
    "[100::1]",
]
GLOBAL_HOSTS = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "[2606:4700:4700::1111]",
    "[2002:5db8:d822::1]",  # 6to4 around 93.184.216.34
    "[64:ff9b::808:808]",  # NAT64 around 8.8.8.8
    "[::ffff:8.8.8.8]",
]


# -- the policy object, offline --------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_in_every_spelling_needs_outbound_allow_loopback(host: str) -> None:
    for refusing in (DEFAULT, PRIVATE):
        with pytest.raises(AddressRefused) as refused:
            refusing.check_host(host)
        assert refused.value.kind == "loopback"
        assert refused.value.setting == "outbound_allow_loopback"
        assert "outbound_allow_loopback" in str(refused.value)
    LOOPBACK.check_host(host)


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_every_other_non_global_range_needs_outbound_allow_private(host: str) -> None:
    for refusing in (DEFAULT, LOOPBACK):
        with pytest.raises(AddressRefused) as refused:
            refusing.check_host(host)
        assert refused.value.kind == "private"
        assert "outbound_allow_private" in str(refused.value)
    PRIVATE.check_host(host)


@pytest.mark.parametrize("host", GLOBAL_HOSTS)
def test_global_addresses_are_always_allowed(host: str) -> None:
    address = host_address(host)
    assert address is not None and address_kind(address) == "global"
    DEFAULT.check_host(host)


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0xa.1", "10.1.2", "1.2.3.4"]
)
def test_numeric_hosts_are_read_the_way_the_resolver_reads_them(host: str) -> None:
    assert host_address(host) == ipaddress.IPv4Address(socket.inet_aton(host))


@pytest.mark.parametrize("host", ["1.2.3.256", "256.1", "0x100.1", "08.1", "1..2", "1_0.0.0.1"])
def test_what_the_resolver_would_not_read_as_an_address_is_a_name(host: str) -> None:
    with pytest.raises(OSError, match="illegal IP address"):
        socket.inet_aton(host)
    assert host_address(host) is None


def test_names_are_judged_on_what_they_resolve_to() -> None:
    DEFAULT.check_host("example.com")  # nothing known yet
    with pytest.raises(AddressRefused, match=r"cb\.example \(10\.0\.0\.1\) is a private"):
        DEFAULT.check("cb.example", ["93.184.216.34", "10.0.0.1"])
    with pytest.raises(AddressRefused):
        DEFAULT.check("cb.example", ["fe80::1%eth0"])
    DEFAULT.check("cb.example", ["93.184.216.34", "2606:4700:4700::1111"])


def test_the_policy_comes_from_the_outbound_settings_and_never_from_the_carrier() -> None:
    assert AddressPolicy.from_settings(Settings()) == DEFAULT
    assert Settings().carrier == "sandbox"
    sandbox_routes = Settings(carrier="s", carriers={"s": {"type": "sandbox"}})
    assert AddressPolicy.from_settings(sandbox_routes) == DEFAULT
    loopback = Settings(outbound_allow_loopback=True)
    assert AddressPolicy.from_settings(loopback) == LOOPBACK
    assert AddressPolicy.from_settings(Settings(outbound_allow_private=True)) == PRIVATE
    # The deprecated setting keeps its old meaning: both.
    legacy = AddressPolicy.from_settings(Settings(callback_allow_private=True))
    assert legacy == AddressPolicy(allow_loopback=True, allow_private=True)


def test_the_outbound_settings_load_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "TREBUCHET_OUTBOUND_ALLOW_LOOPBACK": "true",
            "TREBUCHET_OUTBOUND_ALLOW_PRIVATE": "0",
        }
    )
    assert AddressPolicy.from_settings(settings) == LOOPBACK


# -- at delivery time: the resolver ---------------------------------------------------------


async def test_the_guarded_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    refusing = GuardedResolver(DEFAULT)
    try:
        with pytest.raises(AddressRefused, match="localhost"):
            await refusing.resolve("localhost", 80, socket.AF_INET)
    finally:
        await refusing.close()
    allowing = GuardedResolver(LOOPBACK)
    try:
        [result, *_] = await allowing.resolve("localhost", 80, socket.AF_INET)
        assert result["host"] == "127.0.0.1"
    finally:
        await allowing.close()


async def test_a_client_with_the_guarded_resolver_never_connects_to_a_refused_name() -> None:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return web.Response(text="secret")

    async with serve_http(handle) as base_url:
        port = base_url.rsplit(":", 1)[1]
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(DEFAULT))
        async with aiohttp.ClientSession(connector=connector) as session:
            with pytest.raises(aiohttp.ClientConnectorError) as failure:
                await session.get(
                    f"http://localhost:{port}/secret", timeout=aiohttp.ClientTimeout(5)
                )
            assert isinstance(failure.value.os_error, AddressRefused)
    assert hits == []


# -- when a URL is named: sends and applications ----------------------------------------------


async def _harness(db: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    # The shipped outbound defaults, not the loopback the shared test settings allow.
    base = replace(make_settings(db), outbound_allow_loopback=False)
    settings = replace(base, media_dir=str(tmp_path / "media"), **overrides)
    async with harnessed(settings) as h:
        yield h


@pytest.fixture
async def shipped(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in _harness(sqlite_url, tmp_path):
        yield h


async def _stored(h: Harness, user_id: str) -> int:
    rows = await h.store.messages.list(
        user_id, MessageFilter(), descending=False, after=None, limit=10
    )
    return len(rows)


REFUSED_CALLBACKS = [
    ("http://2130706433/", "outbound_allow_loopback"),
    ("http://127.1/", "outbound_allow_loopback"),
    ("http://0177.0.0.1/", "outbound_allow_loopback"),
    ("http://0x7f.0.0.1:8080/cb", "outbound_allow_loopback"),
    ("http://[::1]/cb", "outbound_allow_loopback"),
    ("http://[::ffff:127.0.0.1]/cb", "outbound_allow_loopback"),
    ("http://localhost:8080/cb", "outbound_allow_loopback"),
    ("http://0.0.0.0/cb", "outbound_allow_loopback"),
    ("https://10.0.0.5/cb", "outbound_allow_private"),
    ("http://100.100.100.200/latest", "outbound_allow_private"),
    ("http://169.254.169.254/latest/meta-data", "outbound_allow_private"),
    ("http://[fd00::1]/cb", "outbound_allow_private"),
    ("http://[2002:a00:1::]/cb", "outbound_allow_private"),
]
MALFORMED = ["http://[::1/cb", "http://", "http://h:99999/", "not a url"]
NOT_HTTP = ["ftp://example.com/cb", "file:///etc/passwd", "javascript:alert(1)", "gopher://x.test/"]


@pytest.mark.parametrize("prop", ["callbackUrl", "fallbackUrl"])
@pytest.mark.parametrize(("url", "setting"), REFUSED_CALLBACKS)
async def test_a_send_naming_an_unreachable_callback_is_refused(
    shipped: Harness, prop: str, url: str, setting: str
) -> None:
    creds = await shipped.create_user([FROM])
    http = shipped.http(creds)
    answer = await http.post(
        shipped.messages_path(creds), json={"from": FROM, "to": TO, "text": "x", prop: url}
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["category"], body["code"]) == ("bad-request", "callback-invalid-url")
    assert prop in body["message"] and setting in body["message"]
    details = {d["name"]: d["value"] for d in body["details"]}
    assert (details["property"], details["url"], details["setting"]) == (prop, url, setting)
    assert await _stored(shipped, creds.user_id) == 0


@pytest.mark.parametrize("url", NOT_HTTP)
async def test_a_callback_that_is_not_http_is_refused_with_the_reason(
    shipped: Harness, url: str
) -> None:
    creds = await shipped.create_user([FROM])
    answer = await shipped.http(creds).post(
        shipped.messages_path(creds), json={"from": FROM, "to": TO, "text": "x", "callbackUrl": url}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "callback-invalid-url"
    assert "only http and https" in answer.json()["message"]


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_callback_is_refused_with_the_reason(shipped: Harness, url: str) -> None:
    creds = await shipped.create_user([FROM])
    answer = await shipped.http(creds).post(
        shipped.messages_path(creds), json={"from": FROM, "to": TO, "text": "x", "fallbackUrl": url}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "callback-invalid-url"
    assert "not a well-formed" in answer.json()["message"]


async def test_each_setting_opens_its_own_kind_of_callback(sqlite_url: str, tmp_path: Path) -> None:
    cases = [
        ({"outbound_allow_loopback": True}, "http://127.1:9/cb", "http://10.0.0.5/cb"),
        ({"outbound_allow_private": True}, "http://10.0.0.5/cb", "http://127.1:9/cb"),
    ]
    for index, (overrides, accepted, refused) in enumerate(cases):
        sender = f"+1555000200{index}"  # one database for both
        async for h in _harness(sqlite_url, tmp_path, **overrides):
            creds = await h.create_user([sender])
            http = h.http(creds)
            message = {"from": sender, "to": TO, "text": "x"}
            ok = await http.post(h.messages_path(creds), json={**message, "callbackUrl": accepted})
            assert ok.status_code == 201, ok.text
            no = await http.post(h.messages_path(creds), json={**message, "callbackUrl": refused})
            assert no.status_code == 400, no.text


async def test_a_bulk_send_refuses_only_the_items_with_unreachable_callbacks(
    shipped: Harness,
) -> None:
    creds = await shipped.create_user([FROM])
    message = {"from": FROM, "to": TO, "text": "x"}
    items = [
        {**message, "callbackUrl": "https://app.example.com/cb"},
        {**message, "callbackUrl": "http://127.1/cb"},
        {**message, "fallbackUrl": "http://169.254.169.254/"},
        message,
    ]
    answer = await shipped.http(creds).post(shipped.messages_path(creds), json=items)
    assert answer.status_code == 202, answer.text
    results = answer.json()
    assert [r["result"] for r in results] == ["accepted", "error", "error", "accepted"]
    assert results[1]["error"]["code"] == "callback-invalid-url"
    assert "outbound_allow_loopback" in results[1]["error"]["message"]
    assert "outbound_allow_private" in results[2]["error"]["message"]
    assert await _stored(shipped, creds.user_id) == 2


async def test_an_application_naming_an_unreachable_callback_is_refused(
    shipped: Harness,
) -> None:
    creds = await shipped.create_user([FROM])
    http = shipped.http(creds)
    base = f"/v1/users/{creds.user_id}/applications"
    refused = await http.post(base, json={"name": "a", "incomingMessageUrl": "http://127.1/in"})
    assert refused.status_code == 400
    assert "outbound_allow_loopback" in refused.json()["message"]
    created = await http.post(base, json={"name": "a", "incomingMessageUrl": "https://a.test/in"})
    assert created.status_code == 201
    location = created.headers["location"]
    update = {"incomingMessageFallbackUrl": "http://[fd00::1]/fb"}
    changed = await http.post(location.removeprefix("http://testserver"), json=update)
    assert changed.status_code == 400
    assert changed.json()["details"][0] == {
        "name": "property",
        "value": "incomingMessageFallbackUrl",
    }


async def test_credentials_in_a_refused_callback_are_not_echoed(shipped: Harness) -> None:
    creds = await shipped.create_user([FROM])
    message = {"from": FROM, "to": TO, "text": "x", "callbackUrl": "http://user:hunter2@127.1/"}
    answer = await shipped.http(creds).post(shipped.messages_path(creds), json=message)
    assert answer.status_code == 400
    assert "hunter2" not in answer.text and "http://***:***@127.1/" in answer.text


# -- credentials in callback URLs are masked when shown -------------------------------------


async def test_credentials_in_callback_urls_are_masked_in_get_and_list(
    shipped: Harness,
) -> None:
    creds = await shipped.create_user([FROM])
    http = shipped.http(creds)
    message = {
        "from": FROM,
        "to": TO,
        "text": "x",
        "callbackUrl": "https://hook:s3cret@app.example.com/cb?x=a@b",
        "fallbackUrl": "https://t0ken@backup.example.com/fb",
    }
    sent = await http.post(shipped.messages_path(creds), json=message)
    assert sent.status_code == 201, sent.text
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    shown = (await http.get(f"{shipped.messages_path(creds)}/{message_id}")).json()
    [listed] = (await http.get(shipped.messages_path(creds))).json()
    for body in (shown, listed):
        assert body["callbackUrl"] == "https://***:***@app.example.com/cb?x=a@b"
        assert body["fallbackUrl"] == "https://***@backup.example.com/fb"
    stored = await shipped.store.messages.get(creds.user_id, message_id)
    assert stored is not None
    assert stored._mapping["callback_url"] == message["callbackUrl"]


async def test_credentials_in_application_urls_are_masked(shipped: Harness) -> None:
    creds = await shipped.create_user([FROM])
    http = shipped.http(creds)
    base = f"/v1/users/{creds.user_id}/applications"
    app = {
        "name": "a",
        "incomingMessageUrl": "https://u:Secret-Pass@a.example.com/in",
        "incomingMessageFallbackUrl": "https://u:Secret-Pass@b.example.com/fb",
    }
    created = await http.post(base, json=app)
    assert created.status_code == 201, created.text
    shown = (await http.get(created.headers["location"].removeprefix("http://testserver"))).json()
    [listed] = (await http.get(base)).json()
    for body in (shown, listed):
        # Ids are lower-case letters and digits: a password with a capital and a dash
        # cannot turn up in one by chance.
        assert "Secret-Pass" not in str(body)
        assert body["incomingMessageUrl"] == "https://***:***@a.example.com/in"
        assert body["incomingSmsUrl"] == "https://***:***@a.example.com/in"
        assert body["incomingMessageFallbackUrl"] == "https://***:***@b.example.com/fb"
