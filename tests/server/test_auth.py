"""Authentication and tenant isolation on every route."""

from __future__ import annotations

import base64

import pytest
from starlette.routing import Route

from tests.conftest import Credentials, Harness
from trebuchet.server.api.app import ROUTES


@pytest.fixture
async def alice(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550001111"])


@pytest.fixture
async def bob(harness: Harness) -> Credentials:
    return await harness.create_user(["+15550009999"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"t-unknown:secret").decode(),
    ],
)
async def test_bad_credentials_are_401_access_denied(
    harness: Harness, alice: Credentials, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await harness.http().get(harness.messages_path(alice), headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["category"] == "authorization" and body["code"] == "access-denied"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_wrong_secret_is_rejected_even_when_the_token_is_cached(
    harness: Harness, alice: Credentials
) -> None:
    good = await harness.http(alice).get(harness.messages_path(alice))
    assert good.status_code == 200
    bad = await harness.http().get(
        harness.messages_path(alice), auth=(alice.api_token, alice.api_secret + "x")
    )
    assert bad.status_code == 401


async def test_another_users_path_is_401_user_access_denied(
    harness: Harness, alice: Credentials, bob: Credentials
) -> None:
    response = await harness.http(alice).get(harness.messages_path(bob))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "user-access-denied"
    assert alice.user_id in body["message"] and bob.user_id in body["message"]


def _user_routes() -> list[tuple[str, str]]:
    found = []
    for route in ROUTES:
        if isinstance(route, Route) and route.path.startswith("/v1/users/"):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


async def _bobs_ids(harness: Harness, bob: Credentials) -> dict[str, str]:
    http = harness.http(bob)
    base = f"/v1/users/{bob.user_id}"
    sent = await http.post(
        f"{base}/messages", json={"from": bob.numbers[0], "to": "+15550002222", "text": "b"}
    )
    app = await http.post(
        f"{base}/applications", json={"name": "b", "incomingMessageUrl": "https://b.test/in"}
    )
    error_id = await harness.store.user_errors.add(bob.user_id, "unavailable", "x", "y", {})
    numbers = (await http.get(f"{base}/phoneNumbers")).json()
    await http.put(
        f"{base}/media/bob/photo.png", content=b"bob's", headers={"Content-Type": "image/png"}
    )
    opt_out = await http.post(f"{base}/optOuts", json={"recipient": "+15550002222"})
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    events = (await http.get(f"{base}/messages/{message_id}/events")).json()
    return {
        "message_id": message_id,
        # An event of Bob's message where it has one; any id serves where it has none,
        # since Alice reaches it only through Bob's message.
        "event_id": events[0]["id"] if events else "ev-of-bob",
        "opt_out_id": opt_out.json()["id"],
        "number": bob.numbers[0],
        "application_id": app.headers["location"].rsplit("/", 1)[1],
        "number_id": numbers[0]["id"],
        "error_id": error_id,
        "media_name": "bob/photo.png",
    }


@pytest.mark.parametrize(("method", "path"), _user_routes())
async def test_every_route_hides_other_tenants(
    harness: Harness, alice: Credentials, bob: Credentials, method: str, path: str
) -> None:
    """Alice, authenticated, addresses Bob's resources: through Bob's user id she is
    refused; through her own user id with Bob's resource ids she finds nothing."""
    ids = await _bobs_ids(harness, bob)
    body = {"text": ""} if method == "PATCH" else {"name": "x"}
    http = harness.http(alice)
    path = path.replace("{media_name:media}", "{media_name}")
    as_bob = path.format(user_id=bob.user_id, **ids)
    refused = await http.request(method, as_bob, json=body if method != "GET" else None)
    assert refused.status_code == 401
    assert refused.json()["code"] == "user-access-denied"
    if "{" in path.replace("{user_id}", "") and method != "PUT":  # PUT creates one's own
        mine = path.format(user_id=alice.user_id, **ids)
        hidden = await http.request(method, mine, json=body if method != "GET" else None)
        assert hidden.status_code == 404, (method, mine, hidden.text)
        assert hidden.json()["category"] == "not-found"
    # Bob's data is untouched and still his.
    bob_http = harness.http(bob)
    base = f"/v1/users/{bob.user_id}"
    message = (await bob_http.get(f"{base}/messages/{ids['message_id']}")).json()
    assert message["text"] == "b"
    assert (await bob_http.get(f"{base}/applications/{ids['application_id']}")).status_code == 200
    assert (await bob_http.get(f"{base}/phoneNumbers/{ids['number_id']}")).status_code == 200
    assert (await bob_http.get(f"{base}/media/{ids['media_name']}")).content == b"bob's"


async def test_lists_only_show_own_data(
    harness: Harness, alice: Credentials, bob: Credentials
) -> None:
    await _bobs_ids(harness, bob)
    base = f"/v1/users/{alice.user_id}"
    http = harness.http(alice)
    assert (await http.get(f"{base}/messages")).json() == []
    assert (await http.get(f"{base}/applications")).json() == []
    assert (await http.get(f"{base}/errors")).json() == []
    assert (await http.get(f"{base}/media")).json() == []
    assert [n["number"] for n in (await http.get(f"{base}/phoneNumbers")).json()] == alice.numbers


async def test_unknown_routes_and_methods_answer_json_errors(
    harness: Harness, alice: Credentials
) -> None:
    http = harness.http(alice)
    missing = await http.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["message"]
    wrong = await http.delete(harness.messages_path(alice))
    assert wrong.status_code == 405 and wrong.json()["message"]
