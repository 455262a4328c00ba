"""GET /messages: filters, keyset pages linked by an absolute Link, strict headers."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from tests.conftest import Credentials, Harness
from trebuchet.server.domain.times import parse_filter_time
from trebuchet.server.store import tables

A, B, C = "+15550001111", "+15550002222", "+15550003333"
LINK = re.compile(r'^<(?P<url>[^<>,;]+)>; rel="next"$')


async def _send_many(
    harness: Harness, creds: Credentials, items: list[dict[str, Any]]
) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(items), 50):
        response = await harness.http(creds).post(
            harness.messages_path(creds), json=items[start : start + 50]
        )
        assert response.status_code == 202
        ids += [r["location"].rsplit("/", 1)[1] for r in response.json()]
    return ids


async def _walk(
    harness: Harness, creds: Credentials, params: dict[str, Any]
) -> list[list[dict[str, Any]]]:
    """Follow Link headers exactly as the Python client does: the URL verbatim."""
    http = harness.http(creds)
    pages = []
    response = await http.get(harness.messages_path(creds), params=params)
    for _ in range(10_000):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        pages.append(response.json())
        link = response.headers.get("link")
        if link is None:
            return pages
        match = LINK.match(link)
        assert match, link
        assert match["url"].startswith(f"http://testserver/v1/users/{creds.user_id}/messages?")
        response = await http.get(match["url"])
    raise AssertionError("paging did not end")


async def _set_times(harness: Harness, ids: list[str], times: list[str]) -> None:
    async with harness.store.write() as conn:
        for ident, when in zip(ids, times, strict=True):
            await conn.execute(
                update(tables.messages)
                .where(tables.messages.c.id == ident)
                .values(time_us=parse_filter_time(when))
            )


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user([A, C])


async def test_paging_visits_every_message_once_in_both_orders(
    harness: Harness, user: Credentials
) -> None:
    ids = await _send_many(
        harness, user, [{"from": A, "to": B, "text": f"m{i}"} for i in range(257)]
    )
    for order in ("asc", "desc"):
        pages = await _walk(harness, user, {"size": 25, "sortOrder": order})
        assert [len(p) for p in pages] == [25] * 10 + [7]
        seen = [m["id"] for page in pages for m in page]
        assert sorted(seen) == sorted(ids)
        keys = [(m["time"], m["id"]) for page in pages for m in page]
        assert keys == sorted(keys, reverse=order == "desc")


async def test_default_order_is_ascending_and_default_size_25(
    harness: Harness, user: Credentials
) -> None:
    ids = await _send_many(harness, user, [{"from": A, "to": B, "text": str(i)} for i in range(30)])
    await _set_times(harness, ids, [f"2024-01-01 00:00:{i:02d}" for i in range(30)])
    response = await harness.http(user).get(harness.messages_path(user))
    body = response.json()
    assert [m["id"] for m in body] == ids[:25]
    assert response.headers["link"].endswith('; rel="next"')


async def test_exact_fit_has_no_next_link(harness: Harness, user: Credentials) -> None:
    await _send_many(harness, user, [{"from": A, "to": B, "text": str(i)} for i in range(10)])
    pages = await _walk(harness, user, {"size": 10})
    assert [len(p) for p in pages] == [10]
    empty = await harness.http(user).get(harness.messages_path(user), params={"direction": "in"})
    assert empty.json() == [] and "link" not in empty.headers


async def test_link_repeats_every_filter_and_size(harness: Harness, user: Credentials) -> None:
    ids = await _send_many(harness, user, [{"from": A, "to": B, "text": str(i)} for i in range(5)])
    await _set_times(harness, ids, [f"2014-05-25 12:00:0{i}" for i in range(5)])
    params = {
        "from": A,
        "to": B,
        "fromDateTime": "2014-05-25 12:00:00",
        "toDateTime": "2014-05-26",
        "direction": "out",
        "state": "queued",
        "sortOrder": "desc",
        "size": 2,
    }
    response = await harness.http(user).get(harness.messages_path(user), params=params)
    url = LINK.match(response.headers["link"])["url"]  # type: ignore[index]
    assert "+" not in url and " " not in url
    query = parse_qs(urlsplit(url).query)
    for key, value in params.items():
        assert query[key] == [str(value)]
    assert "sortKeyLT" in query
    # Node's client re-issues the list with only the link's query parameters.
    again = await harness.http(user).get(
        harness.messages_path(user), params={k: v[0] for k, v in query.items()}
    )
    assert [m["id"] for m in again.json()] == [ids[2], ids[1]]


async def test_filters(harness: Harness, user: Credentials) -> None:
    ids = await _send_many(
        harness,
        user,
        [
            {"from": A, "to": B, "text": "a->b", "receiptRequested": "all"},
            {"from": C, "to": B, "text": "c->b"},
            {"from": A, "to": C, "text": "a->c"},
        ],
    )
    await _set_times(
        harness, ids, ["2014-05-25 11:59:59.999", "2014-05-25 12:00:00", "2014-05-26 00:00:00"]
    )

    async def texts(**params: Any) -> list[str]:
        response = await harness.http(user).get(harness.messages_path(user), params=params)
        assert response.status_code == 200, response.text
        return [m["text"] for m in response.json()]

    assert await texts(**{"from": A}) == ["a->b", "a->c"]
    assert await texts(to=B) == ["a->b", "c->b"]
    assert await texts(to=C, **{"from": A}) == ["a->c"]
    assert await texts(deliveryState="waiting") == ["a->b"]
    assert await texts(state="queued", direction="out") == ["a->b", "c->b", "a->c"]
    assert await texts(state="sent") == []
    assert await texts(direction="in") == []
    assert await texts(fromDateTime="2014-05-25 12:00") == ["c->b", "a->c"]
    assert await texts(toDateTime="2014-05-25 11:59:59.999") == ["a->b"]  # inclusive to the ms
    assert await texts(toDateTime="2014-05-25 11:59:59") == []
    assert await texts(fromDateTime="2014-05-25", toDateTime="2014-05-25 23:59:59") == [
        "a->b",
        "c->b",
    ]
    assert await texts(fromDateTime="2014-05-25T12:00:00Z", sortOrder="desc") == ["a->c", "c->b"]
    assert await texts(toDateTime="2014-05-25T13:00:00+01:00") == ["a->b", "c->b"]
    assert await texts(unknownParameter="x", page="0") == ["a->b", "c->b", "a->c"]


async def test_python_requests_encoding_is_decoded_form_style(
    harness: Harness, user: Credentials
) -> None:
    ids = await _send_many(harness, user, [{"from": A, "to": B, "text": "x"}])
    await _set_times(harness, ids, ["2014-05-25 12:00:00"])
    raw = "fromDateTime=2014-05-25+12%3A00%3A00&from=%2B15550001111"
    response = await harness.http(user).get(f"{harness.messages_path(user)}?{raw}")
    assert [m["id"] for m in response.json()] == ids


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"size": 0}, "size"),
        ({"size": 1001}, "size"),
        ({"size": "ten"}, "size"),
        ({"size": -5}, "size"),
        ({"direction": "sideways"}, "direction"),
        ({"state": "lost"}, "state"),
        ({"deliveryState": "maybe"}, "deliveryState"),
        ({"sortOrder": "random"}, "sortOrder"),
        ({"fromDateTime": "2014-05"}, "fromDateTime"),
        ({"toDateTime": "2014-02-30"}, "toDateTime"),
        ({"toDateTime": "tomorrow"}, "toDateTime"),
        ({"from": "5550001111"}, "from"),
        ({"to": "%"}, "to"),
        ({"sortKeyGT": "1700000000000000.m-abc.0000000000000000"}, "sortKeyGT"),
        ({"sortKeyGT": "garbage"}, "sortKeyGT"),
        ({"sortKeyLT": "x"}, "sortKeyLT"),
    ],
)
async def test_bad_filters_are_400(
    harness: Harness, user: Credentials, params: dict[str, Any], name: str
) -> None:
    response = await harness.http(user).get(harness.messages_path(user), params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation-error"
    assert name in body["message"]


async def test_size_bounds_are_inclusive(harness: Harness, user: Credentials) -> None:
    for size in (1, 1000):
        response = await harness.http(user).get(harness.messages_path(user), params={"size": size})
        assert response.status_code == 200


async def test_a_cursor_from_another_user_is_rejected(harness: Harness, user: Credentials) -> None:
    await _send_many(harness, user, [{"from": A, "to": B, "text": str(i)} for i in range(3)])
    first = await harness.http(user).get(harness.messages_path(user), params={"size": 1})
    cursor = parse_qs(urlsplit(LINK.match(first.headers["link"])["url"]).query)["sortKeyGT"][0]  # type: ignore[index]
    other = await harness.create_user(["+15556660000"])
    stolen = await harness.http(other).get(
        harness.messages_path(other), params={"sortKeyGT": cursor}
    )
    assert stolen.status_code == 400
    tampered = cursor.replace(cursor.split(".")[0], str(int(cursor.split(".")[0]) - 1))
    forged = await harness.http(user).get(
        harness.messages_path(user), params={"sortKeyGT": tampered}
    )
    assert forged.status_code == 400


async def test_get_unknown_message_is_404(harness: Harness, user: Credentials) -> None:
    response = await harness.http(user).get(f"{harness.messages_path(user)}/m-doesnotexist")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "message-not-found"
    assert "'m-doesnotexist'" in body["message"]
    assert {"name": "messageId", "value": "m-doesnotexist"} in body["details"]


async def test_redact(harness: Harness, user: Credentials) -> None:
    (ident,) = await _send_many(harness, user, [{"from": A, "to": B, "text": "secret"}])
    path = f"{harness.messages_path(user)}/{ident}"
    http = harness.http(user)
    for bad in ({"text": "other"}, {"text": None}, {"text": "", "to": B}, {}):
        response = await http.patch(path, json=bad)
        assert response.status_code == 400, bad
        assert response.json()["message"]
    assert (await http.get(path)).json()["text"] == "secret"
    ok = await http.patch(path, json={"text": ""})
    assert ok.status_code == 200 and ok.content == b"" and "content-type" not in ok.headers
    assert (await http.get(path)).json()["text"] == ""
    missing = await http.patch(f"{harness.messages_path(user)}/m-nope", json={"text": ""})
    assert missing.status_code == 404
