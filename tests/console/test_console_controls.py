"""The messaging controls in the console: a number's opt-out list, and a scheduled
message's send time with a cancel button that is the API's cancel; another user's
message and number ids are not found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Harness
from tests.console.conftest import csrf_of, post_form, sign_in
from trebuchet.server.engine import Engine

OURS, OTHER_OURS = "+15550100001", "+15550100002"
HANDSET, SECOND, THIRD = "+15557654321", "+15557654322", "+15557654323"


async def test_a_scheduled_message_shows_its_time_and_is_cancelled_through_the_api(
    console: Harness,
) -> None:
    creds = await console.create_user([OURS])
    stranger = await console.create_user([OTHER_OURS])
    api = console.http(creds)
    send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"from": OURS, "to": HANDSET, "text": "later", "sendAt": send_at}
    sent = await api.post(console.messages_path(creds), json=body)
    assert sent.status_code == 201, sent.text
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    shown = (await api.get(f"{console.messages_path(creds)}/{message_id}")).json()
    assert shown["state"] == "scheduled"

    client = console.http()
    await sign_in(client, creds)
    page_path = f"/console/messages/{message_id}"
    page = await client.get(page_path)
    assert "Send at" in page.text and shown["sendAt"] in page.text
    assert "Cancel message" in page.text
    cancel_path = f"{page_path}/cancel"

    other = console.http()
    await sign_in(other, stranger)
    refused = await post_form(other, "/console/messages", cancel_path, {})
    assert refused.status_code == 404
    assert (await api.get(f"{console.messages_path(creds)}/{message_id}")).json()["state"] == (
        "scheduled"
    )

    done = await post_form(client, page_path, cancel_path, {})
    assert (done.status_code, done.headers["location"]) == (303, page_path)
    after = (await api.get(f"{console.messages_path(creds)}/{message_id}")).json()
    assert (after["state"], after["sendAt"]) == ("canceled", shown["sendAt"])
    page = await client.get(page_path)
    assert "Cancel message" not in page.text and "canceled" in page.text


async def test_a_sent_message_cannot_be_cancelled_and_the_page_says_why(
    console: Harness,
) -> None:
    creds = await console.create_user([OURS])
    api = console.http(creds)
    body = {"from": OURS, "to": HANDSET, "text": "now"}
    message_id = (
        (await api.post(console.messages_path(creds), json=body))
        .headers["location"]
        .rsplit("/", 1)[1]
    )
    client = console.http()
    await sign_in(client, creds)
    path = f"/console/messages/{message_id}"
    assert "Cancel message" in (await client.get(path)).text  # queued until the engine runs
    engine = Engine(console.store, console.settings)
    try:
        await engine.run_until_idle()
    finally:
        await engine.close()
    page = await client.get(path)
    assert "Cancel message" not in page.text
    # A form still open from before: the API's 409, in its words.
    late = await client.post(f"{path}/cancel", data={"csrf": csrf_of(page.text)})
    assert late.status_code == 409
    assert "can no longer be cancelled" in late.text
    assert (await api.get(f"{console.messages_path(creds)}/{message_id}")).json()["state"] == (
        "sent"
    )


async def test_a_numbers_opt_outs_are_listed_and_another_users_number_is_not_found(
    console: Harness,
) -> None:
    creds = await console.create_user([OURS, OTHER_OURS])
    stranger = await console.create_user(["+15550100009"])
    api = console.http(creds)
    opt_outs = f"/v1/users/{creds.user_id}/optOuts"
    for body in ({"recipient": HANDSET, "number": OURS},
                 {"recipient": SECOND, "number": OTHER_OURS},
                 {"recipient": THIRD}):  # fmt: skip
        assert (await api.post(opt_outs, json=body)).status_code == 201
    numbers = (await api.get(f"/v1/users/{creds.user_id}/phoneNumbers")).json()
    ours = next(n["id"] for n in numbers if n["number"] == OURS)

    client = console.http()
    await sign_in(client, creds)
    listing = await client.get("/console/numbers")
    path = f"/console/numbers/{ours}/opt-outs"
    assert f'href="{path}"' in listing.text
    page = await client.get(path)
    assert page.status_code == 200
    assert HANDSET in page.text and THIRD in page.text  # its own, and every number's
    assert SECOND not in page.text  # another number's entry

    other = console.http()
    await sign_in(other, stranger)
    refused = await other.get(path)
    assert refused.status_code == 404
    assert HANDSET not in refused.text
