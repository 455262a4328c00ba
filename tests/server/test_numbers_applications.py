"""/phoneNumbers and /applications as messaging uses them (spec §6)."""

from __future__ import annotations

import pytest

from tests.conftest import Credentials, Harness


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user(["+19195551212"])


def _base(user: Credentials) -> str:
    return f"/v1/users/{user.user_id}"


async def test_numbers_lifecycle(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    listed = (await http.get(f"{_base(user)}/phoneNumbers")).json()
    assert [n["number"] for n in listed] == ["+19195551212"]
    assert listed[0]["nationalNumber"] == "(919) 555-1212"
    assert listed[0]["numberState"] == "enabled"
    assert listed[0]["id"].startswith("n-") and listed[0]["createdTime"].endswith("Z")

    # the operator assigns the number; ordering it then succeeds and sets its properties
    await harness.store.inventory.add(["+15550004444"], user.user_id)
    created = await http.post(
        f"{_base(user)}/phoneNumbers",
        json={"number": "+15550004444", "name": "support", "city": None},
    )
    assert created.status_code == 201 and created.content == b""
    number_id = created.headers["location"].rsplit("/", 1)[1]
    # by id, by E.164 percent-encoded (Node) and with a raw '+' (Python)
    for ident in (number_id, "%2B15550004444", "+15550004444"):
        got = await http.get(f"{_base(user)}/phoneNumbers/{ident}")
        assert got.status_code == 200, ident
        assert got.json()["name"] == "support"

    # the new number can send right away
    sent = await http.post(
        f"{_base(user)}/messages", json={"from": "+15550004444", "to": "+15550002222", "text": "x"}
    )
    assert sent.status_code == 201

    app = await http.post(
        f"{_base(user)}/applications",
        json={"name": "app", "incomingMessageUrl": "https://a.test/in"},
    )
    app_id = app.headers["location"].rsplit("/", 1)[1]
    linked = await http.post(
        f"{_base(user)}/phoneNumbers/{number_id}", json={"applicationId": app_id, "name": None}
    )
    assert linked.status_code == 200
    body = (await http.get(f"{_base(user)}/phoneNumbers/{number_id}")).json()
    assert body["applicationId"] == app_id and body["name"] == "support"  # null = unchanged
    assert body["application"].endswith(f"/applications/{app_id}")
    filtered = await http.get(f"{_base(user)}/phoneNumbers", params={"applicationId": app_id})
    assert [n["id"] for n in filtered.json()] == [number_id]

    await http.post(f"{_base(user)}/phoneNumbers/{number_id}", json={"applicationId": ""})
    assert "applicationId" not in (await http.get(f"{_base(user)}/phoneNumbers/{number_id}")).json()

    deleted = await http.delete(f"{_base(user)}/phoneNumbers/{number_id}")
    assert deleted.status_code == 200 and deleted.content == b""
    assert (await http.get(f"{_base(user)}/phoneNumbers/{number_id}")).status_code == 404
    refused = await http.post(
        f"{_base(user)}/messages", json={"from": "+15550004444", "to": "+15550002222", "text": "x"}
    )
    assert refused.status_code == 401
    # released: it cannot be ordered again
    again = await http.post(f"{_base(user)}/phoneNumbers", json={"number": "+15550004444"})
    assert again.status_code == 403, again.text


async def test_number_errors(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    other = await harness.create_user(["+15550007777"])
    cases = [
        ({"name": "no number"}, 400, "missing-property"),
        ({"number": "555"}, 400, "validation-error"),
        ({"number": 5}, 400, "validation-error"),
        ({"number": "+15550007777"}, 403, "number-not-available"),
        (
            {"number": "+15550008888", "applicationId": "a-notmine"},
            403,
            "application-access-denied",
        ),
    ]
    for body, status, code in cases:
        response = await http.post(f"{_base(user)}/phoneNumbers", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    missing = await http.get(f"{_base(user)}/phoneNumbers/n-missing")
    assert missing.status_code == 404 and missing.json()["code"] == "number-not-found"
    assert other.numbers == ["+15550007777"]


async def test_number_list_pages(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    await harness.store.inventory.add([f"+1555000100{i}" for i in range(6)], user.user_id)
    seen: list[str] = []
    response = await http.get(f"{_base(user)}/phoneNumbers", params={"size": 3})
    while True:
        seen += [n["number"] for n in response.json()]
        if "link" not in response.headers:
            break
        url = response.headers["link"].split(">")[0][1:]
        assert url.startswith("http://testserver/")
        response = await http.get(url)
    assert sorted(seen) == sorted(["+19195551212", *[f"+1555000100{i}" for i in range(6)]])


async def test_applications_lifecycle(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    created = await http.post(
        f"{_base(user)}/applications",
        json={
            "name": "inbound",
            "incomingMessageUrl": "https://app.test/sms",
            "incomingMessageUrlCallbackTimeout": "2500",
            "incomingMessageFallbackUrl": "https://app.test/fb",
            "callbackHttpMethod": "get",
            "incomingCallUrl": None,
            "autoAnswer": None,
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.headers["location"].rsplit("/", 1)[1]
    assert app_id.startswith("a-")
    body = (await http.get(f"{_base(user)}/applications/{app_id}")).json()
    assert body == {
        "id": app_id,
        "name": "inbound",
        "incomingMessageUrl": "https://app.test/sms",
        "incomingSmsUrl": "https://app.test/sms",
        "incomingMessageUrlCallbackTimeout": 2500,
        "incomingMessageFallbackUrl": "https://app.test/fb",
        "callbackHttpMethod": "get",
    }
    updated = await http.post(
        f"{_base(user)}/applications/{app_id}", json={"name": None, "callbackHttpMethod": "POST"}
    )
    assert updated.status_code == 200
    body = (await http.get(f"{_base(user)}/applications/{app_id}")).json()
    assert body["name"] == "inbound" and body["callbackHttpMethod"] == "POST"
    assert [a["id"] for a in (await http.get(f"{_base(user)}/applications")).json()] == [app_id]
    assert (await http.delete(f"{_base(user)}/applications/{app_id}")).status_code == 200
    assert (await http.get(f"{_base(user)}/applications/{app_id}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"incomingMessageUrl": "https://a.test"}, "'name'"),
        ({"name": "x"}, "at least one callback URL".replace("at", "a")),
        (
            {
                "name": "x",
                "incomingCallUrl": "https://a.test",
                "incomingMessageFallbackUrl": "https://b.test",
            },
            "sms callback URL",
        ),
        ({"name": "x", "incomingMessageUrl": "nope"}, "not a valid"),
        (
            {
                "name": "x",
                "incomingMessageUrl": "https://a.test",
                "incomingMessageUrlCallbackTimeout": 0,
            },
            "greater than 0",
        ),
        (
            {
                "name": "x",
                "incomingMessageUrl": "https://a.test",
                "incomingMessageUrlCallbackTimeout": 10001,
            },
            "10000",
        ),
        (
            {"name": "x", "incomingMessageUrl": "https://a.test", "callbackHttpMethod": "PATCH"},
            "GET, POST",
        ),
        ({"name": "x", "incomingMessageUrl": "https://a.test", "autoAnswer": "yes"}, "autoAnswer"),
    ],
)
async def test_application_validation(
    harness: Harness, user: Credentials, body: dict[str, object], fragment: str
) -> None:
    response = await harness.http(user).post(f"{_base(user)}/applications", json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
    assert (await harness.http(user).get(f"{_base(user)}/applications")).json() == []


async def test_user_error_log(harness: Harness, user: Credentials) -> None:
    for i in range(3):
        await harness.store.user_errors.add(
            user.user_id,
            "unavailable",
            "no-application-for-number",
            f"No application is configured for number +1919555121{i}",
            {"number": f"+1919555121{i}"},
        )
    http = harness.http(user)
    first = await http.get(f"{_base(user)}/errors", params={"size": 2})
    assert first.status_code == 200 and len(first.json()) == 2
    rest = await http.get(first.headers["link"].split(">")[0][1:])
    errors = first.json() + rest.json()
    assert len({e["id"] for e in errors}) == 3
    one = (await http.get(f"{_base(user)}/errors/{errors[0]['id']}")).json()
    assert one["code"] == "no-application-for-number" and one["time"].endswith("Z")
    assert one["details"][0]["name"] == "number"
