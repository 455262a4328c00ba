"""Hostile input: forged cursors, odd numbers and dates, SQL and LIKE wildcards, NUL,
oversized and deeply nested bodies.  Property-based where the input space is large.

The answer is always a 4xx with the spec's error body (or an empty/own-data 200); never a
5xx, never another tenant's rows.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import Credentials, Harness, make_settings
from trebuchet.server.api.app import create_app
from trebuchet.server.api.pagination import CursorCodec
from trebuchet.server.domain import errors
from trebuchet.server.domain.phone import is_e164, is_short_code
from trebuchet.server.domain.times import parse_filter_time
from trebuchet.server.store import Store

WILDCARDS = ["%", "_", "'", ";--", "' OR '1'='1", "%25", "\\", "*", "[a-z]", '"', "%_%"]
hostile_text = st.one_of(
    st.sampled_from(WILDCARDS),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("%_';-\\\"*+0123456789 "), max_size=20),
)
FAST = settings(max_examples=150, deadline=None)


# -- cursors (pure) ---------------------------------------------------------------------

codec = CursorCodec("s3cret-shared-by-the-servers")
scopes = st.from_regex(r"u-[a-z2-7]{5}:(asc|desc|errors)", fullmatch=True)
times = st.integers(min_value=0, max_value=2**62)
idents = st.from_regex(r"[a-z]-[a-z2-7]{1,23}", fullmatch=True)


@FAST
@given(scopes, times, idents)
def test_a_cursor_round_trips_in_its_own_scope(scope: str, time_us: int, ident: str) -> None:
    cursor = codec.encode(scope, time_us, ident)
    assert codec.decode(scope, cursor, "sortKeyGT") == (time_us, ident)


@FAST
@given(scopes, scopes, times, idents)
def test_a_cursor_is_refused_in_any_other_scope(
    mine: str, other: str, time_us: int, ident: str
) -> None:
    assume(mine != other)
    with pytest.raises(errors.ApiError) as caught:
        codec.decode(other, codec.encode(mine, time_us, ident), "sortKeyGT")
    assert caught.value.status == 400


@FAST
@given(scopes, times, idents, st.data())
def test_a_tampered_cursor_is_refused(scope: str, time_us: int, ident: str, data: Any) -> None:
    cursor = codec.encode(scope, time_us, ident)
    index = data.draw(st.integers(0, len(cursor) - 1))
    replacement = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF))
    forged = cursor[:index] + replacement + cursor[index + 1 :]
    assume(forged != cursor)
    with pytest.raises(errors.ApiError):
        codec.decode(scope, forged, "sortKeyGT")


@FAST
@given(scopes, st.text(max_size=200))
def test_arbitrary_text_is_never_a_cursor(scope: str, text: str) -> None:
    with pytest.raises(errors.ApiError):
        codec.decode(scope, text, "sortKeyLT")


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    forged = CursorCodec("guessed").encode("u-aaaaa:asc", 1, "m-x")
    with pytest.raises(errors.ApiError):
        codec.decode("u-aaaaa:asc", forged, "sortKeyGT")


# -- E.164, short codes and dates (pure) -------------------------------------------------

# Numbers of lengths the numbering plans allow: NANP, UK London, German mobile.
e164 = st.from_regex(r"\+1[2-9][0-9]{9}|\+4420[0-9]{8}|\+491[5-7][0-9]{9}", fullmatch=True)


@FAST
@given(e164)
def test_every_e164_number_is_accepted(number: str) -> None:
    assert is_e164(number) and not is_short_code(number)


@FAST
@given(st.text(max_size=24))
def test_anything_accepted_as_e164_is_plain_ascii_e164(value: str) -> None:
    if is_e164(value):
        assert value.isascii() and value[0] == "+" and value[1:].isdigit()
        assert 3 <= len(value) <= 16 and value[1] != "0"


@pytest.mark.parametrize(
    "value",
    [
        "+",
        "+0123",
        "15550001111",
        "+1555000111122223",  # 16 digits
        "+\uff11\uff15\uff15\uff15\uff10\uff10\uff10\uff11\uff11\uff11\uff11",  # full-width digits
        "+\u0661\u0665\u0665\u0665\u0660\u0660\u0660\u0661\u0661",  # Arabic-Indic
        "+1555 0001111",
        "+1555\n",
        "+15550001111\x00",
        "+\u00b2\u00b3",
    ],
)
def test_near_misses_are_not_e164(value: str) -> None:
    assert not is_e164(value)


instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@FAST
@given(instants, st.sampled_from([" ", "T"]), st.sampled_from(["", "Z", "+00:00", "+0000"]))
def test_dates_parse_to_the_exact_millisecond(when: datetime, sep: str, zone: str) -> None:
    text = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S.") + f"{when.microsecond // 1000:03d}" + zone
    text = text.rjust(len(text), "0")
    expected = (when.replace(microsecond=when.microsecond // 1000 * 1000)) - datetime(
        1970, 1, 1, tzinfo=UTC
    )
    assert parse_filter_time(f"{when.year:04d}{text[len(str(when.year)) :]}") == (
        expected // timedelta(microseconds=1)
    )


@FAST
@given(st.text(max_size=40))
def test_any_text_is_a_date_or_a_value_error(text: str) -> None:
    try:
        micros = parse_filter_time(text)
    except ValueError:
        return
    assert isinstance(micros, int)


@pytest.mark.parametrize(
    "value",
    [
        "2014-02-30",
        "2014-13-01",
        "2014-05",
        "2014-05-25 24:00",
        "0000-01-01",
        "\uff12\uff10\uff11\uff14-\uff10\uff15-\uff12\uff15",  # full-width digits
    ],
)
def test_impossible_dates_are_value_errors(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the parser's one documented failure
        parse_filter_time(value)


# -- the API under hypothesis (one app, driven from a private event loop) ---------------


@dataclass
class Driven:
    runner: asyncio.Runner
    http: httpx.AsyncClient
    alice: Credentials
    bob: Credentials
    bob_message: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.runner.run(self.http.request(method, path, **kwargs))

    def base(self, who: Credentials) -> str:
        return f"/v1/users/{who.user_id}"


@pytest.fixture
def driven(sqlite_url: str) -> Iterator[Driven]:
    """The app with two tenants; Bob has messages and numbers Alice must never see."""
    settings_ = make_settings(sqlite_url, auth_failure_limit_ip=0, auth_failure_limit_token=0)
    with asyncio.Runner() as runner:
        store = Store(settings_.db)
        runner.run(store.open())
        app = create_app(settings_, store)
        lifespan = app.router.lifespan_context(app)
        runner.run(lifespan.__aenter__())
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        try:
            h = Harness(app=app, store=store, settings=settings_)
            alice = runner.run(h.create_user(["+15550001111"]))
            bob = runner.run(h.create_user(["+15550009999", "+15550009998"]))
            drive = Driven(runner, http, alice, bob, "")
            for who, text in ((alice, "a"), (bob, "b%_'"), (bob, "b2")):
                sent = drive.call(
                    "POST",
                    f"{drive.base(who)}/messages",
                    json={"from": who.numbers[0], "to": "+15550005555", "text": text},
                    auth=who.auth,
                )
                assert sent.status_code == 201
                drive.bob_message = sent.headers["location"].rsplit("/", 1)[1]
            yield drive
        finally:
            runner.run(http.aclose())
            runner.run(lifespan.__aexit__(None, None, None))
            runner.run(store.close())


def _only_4xx(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["message"] and body["category"] and body["code"]


MESSAGE_PARAMS = [
    "from",
    "to",
    "fromDateTime",
    "toDateTime",
    "direction",
    "state",
    "deliveryState",
    "sortOrder",
    "size",
    "sortKeyGT",
    "sortKeyLT",
]
API = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@API
@given(st.dictionaries(st.sampled_from(MESSAGE_PARAMS), hostile_text, max_size=4))
def test_message_filters_never_fail_or_leak(driven: Driven, params: dict[str, str]) -> None:
    response = driven.call(
        "GET", f"{driven.base(driven.alice)}/messages", params=params, auth=driven.alice.auth
    )
    _only_4xx(response)
    if response.status_code == 200:
        for message in response.json():
            assert message["from"] == driven.alice.numbers[0]
            assert message["text"] == "a"


@API
@given(
    st.dictionaries(
        st.sampled_from(["name", "city", "state", "applicationId", "numberState", "sortKeyGT"]),
        hostile_text,
        max_size=3,
    )
)
def test_number_filters_never_fail_or_leak(driven: Driven, params: dict[str, str]) -> None:
    response = driven.call(
        "GET", f"{driven.base(driven.alice)}/phoneNumbers", params=params, auth=driven.alice.auth
    )
    _only_4xx(response)
    if response.status_code == 200:
        assert {n["number"] for n in response.json()} <= set(driven.alice.numbers)


@API
@given(st.binary(max_size=80))
def test_any_authorization_header_is_401_never_500(driven: Driven, raw: bytes) -> None:
    for header in (b"Basic " + raw, b"Basic " + base64.b64encode(raw), raw):
        stripped = header.strip()
        assume(b"\r" not in stripped and b"\n" not in stripped and b"\x00" not in stripped)
        response = driven.call(
            "GET",
            f"{driven.base(driven.alice)}/messages",
            headers={"Authorization": stripped},
        )
        assert response.status_code == 401, response.text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
message_keys = st.sampled_from(
    ["from", "to", "text", "media", "tag", "callbackUrl", "callbackTimeout", "receiptRequested"]
)


@API
@given(
    st.one_of(
        json_values,
        st.dictionaries(message_keys, json_values, max_size=6),
        st.lists(st.dictionaries(message_keys, json_values, max_size=4), max_size=3),
    )
)
def test_any_json_body_is_answered_without_a_server_error(driven: Driven, body: Any) -> None:
    path = f"{driven.base(driven.alice)}/messages"
    response = driven.call("POST", path, json=body, auth=driven.alice.auth)
    _only_4xx(response)
    for route in ("/applications", "/phoneNumbers"):
        response = driven.call(
            "POST", driven.base(driven.alice) + route, json=body, auth=driven.alice.auth
        )
        _only_4xx(response)


# -- NUL, wildcards and sizes on both stores ---------------------------------------------


@pytest.fixture
async def alice(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550001111"])


NUL_REQUESTS = [
    ("GET", "/messages/m-a%00b", None),
    ("GET", "/phoneNumbers?name=a%00", None),
    ("GET", "/messages?sortKeyGT=1%00", None),
    ("POST", "/messages", {"from": "+15550001111", "to": "+15550002222", "text": "a\x00b"}),
    ("POST", "/applications", {"name": "x\x00", "incomingMessageUrl": "https://a.test/"}),
    ("POST", "/phoneNumbers", {"number": "+15550003333", "city": "\x00"}),
]


async def test_nul_characters_are_400(harness: Harness, alice: Credentials) -> None:
    """PostgreSQL text cannot hold NUL: refused before it reaches the store."""
    http = harness.http(alice)
    for method, path, body in NUL_REQUESTS:
        response = await http.request(method, f"/v1/users/{alice.user_id}{path}", json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["category"] == "bad-request"


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    path = harness.messages_path(alice)
    sent = {"from": "+15550001111", "to": "+15550002222", "text": "\\u0000 is not NUL"}
    response = await http.post(path, json=sent)
    assert response.status_code == 201
    assert (await http.get(response.headers["location"])).json()["text"] == sent["text"]


async def test_sql_and_like_wildcards_in_filters(harness: Harness, alice: Credentials) -> None:
    bob = await harness.create_user(["+15550009999"])
    bob_http = harness.http(bob)
    http = harness.http(alice)
    base = f"/v1/users/{alice.user_id}"
    await harness.store.inventory.add(
        [f"+155500080{index:02d}" for index in range(len(WILDCARDS))], bob.user_id
    )
    for index, value in enumerate(WILDCARDS):
        number = {"number": f"+155500080{index:02d}", "name": value, "city": value}
        assert (
            await bob_http.post(f"/v1/users/{bob.user_id}/phoneNumbers", json=number)
        ).is_success
        for param in ("name", "city", "state", "applicationId", "sortKeyGT"):
            response = await http.get(f"{base}/phoneNumbers", params={param: value})
            assert response.status_code in (200, 400), response.text
            if response.status_code == 200:
                assert {n["number"] for n in response.json()} <= set(alice.numbers)
        for param in ("from", "to", "fromDateTime", "state", "sortKeyGT"):
            response = await http.get(f"{base}/messages", params={param: value})
            assert response.status_code == 400, (param, value, response.text)
        response = await http.get(f"{base}/messages/{quote(value, safe='')}")
        assert response.status_code == 404, (value, response.text)


async def test_bodies_over_the_limit_are_413(tuned_app: Any) -> None:
    h = await tuned_app(max_body_bytes=4096)
    alice = await h.create_user(["+15550001111"])
    http = h.http(alice)
    path = h.messages_path(alice)
    big = {"from": "+15550001111", "to": "+15550002222", "text": "x" * 10_000}
    declared = await http.post(path, json=big)
    assert declared.status_code == 413 and declared.json()["code"] == "request-too-large"

    async def chunks() -> Any:  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b"[" * 1000

    streamed = await http.post(path, content=chunks())
    assert streamed.status_code == 413


@pytest.mark.parametrize("opener", [b"[", b'{"a":', b'[{"from":'])
async def test_deeply_nested_json_is_400(
    harness: Harness, alice: Credentials, opener: bytes
) -> None:
    http = harness.http(alice)
    body = opener * 100_000
    for path in ("/messages", "/applications", "/phoneNumbers"):
        response = await http.post(
            f"/v1/users/{alice.user_id}{path}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (path, response.text[:200])
        assert response.json()["code"] in ("invalid-json", "invalid-request-body")


async def test_odd_numbers_in_size_and_timeouts_are_400(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    base = f"/v1/users/{alice.user_id}"
    for size in ("\u00b2", "--5", "9" * 5000, "-" + "9" * 30, "1e3", "\uff10"):
        response = await http.get(f"{base}/messages", params={"size": size})
        assert response.status_code == 400, (size, response.text)
    for timeout in ("\u00b2", "--5", "9" * 5000, "\u0663"):
        app = {
            "name": "a",
            "incomingMessageUrl": "https://a.test/",
            "incomingMessageUrlCallbackTimeout": timeout,
        }
        response = await http.post(f"{base}/applications", json=app)
        assert response.status_code == 400, (timeout, response.text)
    cursor = await http.get(f"{base}/messages", params={"sortKeyGT": "1.m-x.\u00e9\u00e9"})
    assert cursor.status_code == 400


def test_json_module_agrees_nested_bodies_are_too_deep() -> None:
    # Sanity: the inputs above really are deeper than any parser's recursion limit.
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000)
