"""Conversations and the sandbox phone: threads by (our number, their number), replies
through the API's send, and arrivals from the handset through the real inbound path."""

from __future__ import annotations

from tests.conftest import Harness
from tests.console.conftest import post_form, sign_in

OURS = "+15550100001"
HANDSET = "+15557654321"


async def test_a_reply_is_sent_like_an_api_send(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    thread = f"/console/conversations/{OURS}/{HANDSET}"
    response = await post_form(client, thread, thread, {"text": "hi <b>there</b>", "media": ""})
    assert response.status_code == 303
    listed = await console.http(creds).get(console.messages_path(creds))
    [message] = listed.json()
    assert (message["from"], message["to"], message["text"]) == (OURS, HANDSET, "hi <b>there</b>")
    page = await client.get(thread)
    assert "hi &lt;b&gt;there&lt;/b&gt;" in page.text
    assert "Conversations" in page.text
    listing = await client.get("/console/conversations")
    assert HANDSET in listing.text


async def test_a_bad_reply_shows_the_apis_error_and_sends_nothing(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    thread = f"/console/conversations/{OURS}/{HANDSET}"
    response = await post_form(client, thread, thread, {"text": "x", "media": "ftp://nope"})
    api = await console.http(creds).post(
        console.messages_path(creds),
        json={"from": OURS, "to": HANDSET, "text": "x", "media": ["ftp://nope"]},
    )
    assert response.status_code == api.status_code == 403
    assert 'role="alert"' in response.text
    assert api.json()["message"].replace("'", "&#39;") in response.text
    assert ">x</textarea>" in response.text  # the draft is kept
    not_ours = "/console/conversations/+15550100009/" + HANDSET
    assert (await client.get(not_ours)).status_code == 404
    assert (await console.http(creds).get(console.messages_path(creds))).json() == []


async def test_starting_a_conversation_checks_the_sender(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    refused = await post_form(
        client, "/console/conversations", "/console/conversations",
        {"from": "+15550100009", "to": HANDSET, "text": "hello"},
    )  # fmt: skip
    api = await console.http(creds).post(
        console.messages_path(creds), json={"from": "+15550100009", "to": HANDSET, "text": "x"}
    )
    assert refused.status_code == api.status_code
    assert 'role="alert"' in refused.text
    sent = await post_form(
        client, "/console/conversations", "/console/conversations",
        {"from": OURS, "to": HANDSET, "text": "hello"},
    )  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/console/conversations/{OURS}/{HANDSET}".replace(
        "+", "%2B"
    )


async def test_the_sandbox_phone_sends_through_the_inbound_path(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    page = await client.get("/console/phone", params={"handset": HANDSET})
    assert "+15559992000" in page.text  # the magic numbers are listed
    sent = await post_form(
        client, "/console/phone?handset=%2B15557654321", "/console/phone",
        {"handset": HANDSET, "to": OURS, "text": "Hi there", "media": ""},
    )  # fmt: skip
    assert sent.status_code == 303
    [message] = (await console.http(creds).get(console.messages_path(creds))).json()
    assert (message["direction"], message["from"], message["text"]) == ("in", HANDSET, "Hi there")
    # No application on the number: the inbound path records the user error.
    errors = await console.http(creds).get(f"/v1/users/{creds.user_id}/errors")
    assert errors.json()[0]["code"] == "no-application-for-number"
    thread = await client.get(f"/console/conversations/{OURS}/{HANDSET}")
    assert "Hi there" in thread.text


async def test_the_phone_sends_only_to_the_users_own_numbers(console: Harness) -> None:
    alice = await console.create_user([OURS])
    bob = await console.create_user(["+15550100002"])
    client = console.http()
    await sign_in(client, bob)
    refused = await post_form(
        client, "/console/phone", "/console/phone",
        {"handset": HANDSET, "to": OURS, "text": "hi alice", "media": ""},
    )  # fmt: skip
    assert refused.status_code in (401, 403)
    assert 'role="alert"' in refused.text
    assert (await console.http(alice).get(console.messages_path(alice))).json() == []
