"""``/optOuts`` and ``/messagingSettings``: add, read, remove, list with keyset paging,
and every bad input answered with the spec's error body, on both stores."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Credentials, Harness
from trebuchet.server.store.opt_outs import OptOutFilter

NUMBER = "+15550001111"
OTHER = "+15550003333"


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user([NUMBER, OTHER])


def _path(user: Credentials, tail: str = "") -> str:
    return f"/v1/users/{user.user_id}/optOuts{tail}"


def _is_spec_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"category", "code", "message", "details"}
    assert body["category"] == category
    return body


async def test_add_read_and_remove(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    added = await http.post(_path(user), json={"recipient": "+15557650001", "number": NUMBER})
    assert added.status_code == 201
    entry = added.json()
    assert added.headers["location"].endswith(_path(user, f"/{entry['id']}"))
    assert (entry["recipient"], entry["number"], entry["source"]) == ("+15557650001", NUMBER, "api")
    assert entry["created"].endswith("Z")
    again = await http.post(_path(user), json={"recipient": "+15557650001", "number": NUMBER})
    assert again.status_code == 200 and again.json() == entry  # already there: unchanged
    everywhere = await http.post(_path(user), json={"recipient": "+15557650001", "number": None})
    assert everywhere.status_code == 201 and everywhere.json()["number"] is None
    assert (await http.get(added.headers["location"])).json() == entry
    assert (await http.delete(added.headers["location"])).status_code == 200
    gone = await http.get(added.headers["location"])
    assert _is_spec_error(gone, 404, "not-found")["code"] == "optOut-not-found"
    assert _is_spec_error(await http.delete(added.headers["location"]), 404, "not-found")
    assert [e["id"] for e in (await http.get(_path(user))).json()] == [everywhere.json()["id"]]


async def test_list_pages_by_keyset_with_filters_kept_in_the_link(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    recipients = [f"+1555765{index:04d}" for index in range(7)]
    for recipient in recipients:
        assert (await http.post(_path(user), json={"recipient": recipient})).status_code == 201
    await http.post(_path(user), json={"recipient": recipients[0], "number": OTHER})
    seen: list[str] = []
    url: str | None = _path(user) + "?size=3&number="
    pages = 0
    while url is not None:
        response = await http.get(url)
        assert response.status_code == 200
        seen += [entry["recipient"] for entry in response.json()]
        url = response.links.get("next", {}).get("url")
        pages += 1
    assert seen == [*recipients, recipients[0]] and pages == 3
    only = (await http.get(_path(user), params={"number": OTHER})).json()
    assert [(e["recipient"], e["number"]) for e in only] == [(recipients[0], OTHER)]
    mine = await http.get(_path(user), params={"recipient": recipients[0], "size": 1})
    assert len(mine.json()) == 1 and "size=1" in mine.headers["link"]
    assert "recipient=%2B15557650000" in mine.headers["link"]


async def test_the_store_lists_every_users_opt_outs_for_an_export(
    harness: Harness, user: Credentials
) -> None:
    other = await harness.create_user(["+15550007777"])
    await harness.http(user).post(_path(user), json={"recipient": "+15557650001"})
    await harness.http(other).post(_path(other), json={"recipient": "+15557650002"})
    first = await harness.store.opt_outs.list(None, limit=1)
    rest = await harness.store.opt_outs.list(
        None, OptOutFilter(), after=(first[0]["created_us"], first[0]["id"]), limit=10
    )
    assert [row["user_id"] for row in first + rest] == [user.user_id, other.user_id]


@pytest.mark.parametrize(
    ("body", "status", "category", "field"),
    [
        ({}, 400, "bad-request", "recipient"),
        ({"recipient": "12345"}, 400, "bad-request", "recipient"),
        ({"recipient": 15557650001}, 400, "bad-request", "recipient"),
        ({"recipient": "+15557650001", "number": "nope"}, 400, "bad-request", "number"),
        (
            {"recipient": "+15557650001", "number": "+15550009999"},
            401,
            "authorization",
            "+15550009999",
        ),
    ],
)
async def test_adding_refuses_bad_input_and_stores_nothing(
    harness: Harness,
    user: Credentials,
    body: dict[str, Any],
    status: int,
    category: str,
    field: str,
) -> None:
    http = harness.http(user)
    error = _is_spec_error(await http.post(_path(user), json=body), status, category)
    assert field in error["message"] + str(error["details"])
    assert (await http.get(_path(user))).json() == []


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"size": "0"}, "size"),
        ({"size": "x"}, "size"),
        ({"sortKeyGT": "forged.cursor.abc"}, "sortKeyGT"),
        ({"number": "12"}, "number"),
        ({"recipient": "abc"}, "recipient"),
        ({"page": "2"}, "page"),
    ],
)
async def test_listing_refuses_bad_parameters(
    harness: Harness, user: Credentials, params: dict[str, str], name: str
) -> None:
    response = await harness.http(user).get(_path(user), params=params)
    assert name in _is_spec_error(response, 400, "bad-request")["message"]


async def test_another_users_list_is_out_of_reach(harness: Harness, user: Credentials) -> None:
    other = await harness.create_user(["+15550007777"])
    added = await harness.http(user).post(_path(user), json={"recipient": "+15557650001"})
    entry_id = added.json()["id"]
    http = harness.http(other)
    assert (await http.get(_path(user))).status_code == 401
    assert (await http.get(_path(other, f"/{entry_id}"))).status_code == 404
    assert (await http.delete(_path(other, f"/{entry_id}"))).status_code == 404


async def test_number_settings_belong_to_the_numbers_owner(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    path = f"/v1/users/{user.user_id}/messagingSettings/numbers/{NUMBER}"
    assert (await http.get(path)).json() == {
        "number": NUMBER,
        "optOutHandling": "platform",
        "autoReplies": True,
    }
    changed = await http.patch(path, json={"autoReplies": False, "optOutHandling": None})
    assert changed.json() == {"number": NUMBER, "optOutHandling": "platform", "autoReplies": False}
    assert (await http.get(path)).json()["autoReplies"] is False
    bad = await http.patch(path, json={"optOutHandling": "nobody"})
    assert "optOutHandling" in _is_spec_error(bad, 400, "bad-request")["message"]
    unknown = await http.patch(path, json={"colour": "red"})
    _is_spec_error(unknown, 400, "bad-request")
    foreign = f"/v1/users/{user.user_id}/messagingSettings/numbers/+15550009999"
    _is_spec_error(await http.get(foreign), 404, "not-found")
