"""Numbers, applications, the error log and the dashboard: writes go through the API's
endpoints (same checks, same messages), figures come from the store."""

from __future__ import annotations

from tests.conftest import Harness
from tests.console.conftest import post_form, sign_in
from trebuchet.server.domain.times import now_us

OURS = "+15550100001"
HOUR = 3600 * 1_000_000
HANDSET = "+15557654321"


async def test_an_application_is_created_and_linked_to_a_number(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    created = await post_form(
        client, "/console/applications", "/console/applications",
        {"name": "Bot <i>", "incomingMessageUrl": "http://127.0.0.1:9/in",
         "incomingMessageFallbackUrl": "", "callbackHttpMethod": "POST"},
    )  # fmt: skip
    assert created.status_code == 303
    api = console.http(creds)
    [app] = (await api.get(f"/v1/users/{creds.user_id}/applications")).json()
    assert app["name"] == "Bot <i>"
    page = await client.get("/console/applications")
    assert "Bot &lt;i&gt;" in page.text
    [number] = (await api.get(f"/v1/users/{creds.user_id}/phoneNumbers")).json()
    linked = await post_form(
        client, "/console/numbers", f"/console/numbers/{number['id']}",
        {"name": "Front desk", "applicationId": app["id"], "fallbackNumber": ""},
    )  # fmt: skip
    assert linked.status_code == 303
    after = (await api.get(f"/v1/users/{creds.user_id}/phoneNumbers/{number['id']}")).json()
    assert (after["applicationId"], after["name"]) == (app["id"], "Front desk")


async def test_writes_refused_by_the_api_show_its_message(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    no_url = await post_form(
        client, "/console/applications", "/console/applications",
        {"name": "Empty", "incomingMessageUrl": "", "incomingMessageFallbackUrl": "",
         "callbackHttpMethod": "POST"},
    )  # fmt: skip
    assert no_url.status_code == 400
    assert "must have a least one callback URL" in no_url.text
    api = console.http(creds)
    [number] = (await api.get(f"/v1/users/{creds.user_id}/phoneNumbers")).json()
    foreign = await post_form(
        client, "/console/numbers", f"/console/numbers/{number['id']}",
        {"name": "", "applicationId": "a-not-mine", "fallbackNumber": ""},
    )  # fmt: skip
    assert foreign.status_code == 403
    assert "does not have permission to use application" in foreign.text
    not_assigned = await post_form(
        client, "/console/numbers", "/console/numbers", {"number": "+15550100077", "name": ""}
    )
    assert not_assigned.status_code == 403
    assert "numbers are assigned by the operator" in not_assigned.text


async def test_the_error_log_links_to_its_message(console: Harness) -> None:
    creds = await console.create_user([OURS])
    client = console.http()
    await sign_in(client, creds)
    await post_form(
        client, "/console/phone", "/console/phone",
        {"handset": HANDSET, "to": OURS, "text": "anyone there?", "media": ""},
    )  # fmt: skip
    [message] = (await console.http(creds).get(console.messages_path(creds))).json()
    page = await client.get("/console/errors")
    assert "no-application-for-number" in page.text
    assert f'href="/console/messages/{message["id"]}"' in page.text


async def test_the_dashboard_counts_from_the_store(console: Harness) -> None:
    creds = await console.create_user([OURS])
    other = await console.create_user(["+15550100002"])
    api = console.http(creds)
    for text in ("one", "two", "three"):
        sent = await api.post(console.messages_path(creds),
                              json={"from": OURS, "to": HANDSET, "text": text})  # fmt: skip
        assert sent.status_code == 201
    client = console.http()
    await sign_in(client, creds)
    await post_form(client, "/console/phone", "/console/phone",
                    {"handset": HANDSET, "to": OURS, "text": "hi", "media": ""})  # fmt: skip
    now = now_us()
    figures = await console.store.console.figures(creds.user_id, now - HOUR, 12, now)
    assert (figures.received, figures.queued, figures.sent) == (1, 3, 0)
    assert sum(out for _, out, _ in figures.throughput) == 3
    page = await client.get("/console/dashboard")
    assert page.status_code == 200
    assert "Waiting to send" in page.text
    quiet = await console.store.console.figures(other.user_id, now - HOUR, 12, now)
    assert (quiet.received, quiet.queued, quiet.sent) == (0, 0, 0)
    day = await client.get("/console/dashboard", params={"window": "day"})
    assert day.status_code == 200
