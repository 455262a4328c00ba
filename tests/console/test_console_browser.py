"""The console as a person uses it, in real Chromium against the real server: sign in,
send from a conversation, watch a state change live, open the timeline, reply from the
sandbox phone, redact, sign out; the XSS case and a cross-tenant attempt."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.browser import ConsoleServer, chromium, console_server, sign_in

__all__ = ["chromium", "console_server"]  # fixtures, imported for pytest

# A loaded machine (two cores shared by many) can take seconds to serve a page: waits are
# for states, never sleeps, so a longer ceiling costs nothing when things are quick.
expect.set_options(timeout=15_000)

OURS = "+15550100001"
HANDSET = "+15557654321"
# The sandbox throttles the first two tries to this number, so it stays queued a moment.
SLOW = "+15559993002"
XSS = "<script>alert(1)</script>"


def _api_send(server: ConsoleServer, creds: Any, to: str, text: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/users/{creds.user_id}/messages",
        json={"from": OURS, "to": to, "text": text},
        auth=creds.auth,
    )
    assert response.status_code == 201, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def test_a_day_in_the_console(chromium: Any, console_server: ConsoleServer) -> None:
    creds = console_server.create_user([OURS])
    page = chromium.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    sign_in(page, console_server.url, creds)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()

    # A message sent elsewhere appears on the open list and changes state live.
    page.wait_for_function("document.documentElement.dataset.liveConnected === 'true'")
    _api_send(console_server, creds, SLOW, "watch me go")
    row = page.get_by_role("row").filter(has_text="watch me go")
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_text("sent", exact=True)).to_be_visible(timeout=20_000)

    # Send from the conversation view.
    page.get_by_role("link", name="Conversations").click()
    page.get_by_label("From (your number)").select_option(OURS)
    page.get_by_label("To").fill(HANDSET)
    page.get_by_label("Message").fill("Hello from the console")
    page.get_by_role("button", name="Send").click()
    chat = page.get_by_role("list", name="Messages")
    bubble = chat.get_by_role("listitem").filter(has_text="Hello from the console")
    expect(bubble).to_be_visible()
    expect(bubble).to_contain_text("sent", timeout=20_000)

    # Its timeline.
    bubble.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_text("Accepted")).to_be_visible()
    message_url = page.url

    # The sandbox phone received it, and replies.
    page.get_by_role("link", name="Sandbox phone").click()
    page.get_by_label("Handset number").fill(HANDSET)
    page.get_by_role("button", name="Use this handset").click()
    inbox = page.get_by_role("list", name="Messages received on the handset")
    expect(inbox).to_contain_text("Hello from the console")
    page.get_by_label("Send to (your number)").select_option(OURS)
    page.get_by_label("Text from the handset").fill("Hi back from the handset")
    page.get_by_role("button", name="Send from handset").click()
    page.goto(f"{console_server.url}/console/conversations/{OURS}/{HANDSET}")
    expect(page.get_by_role("list", name="Messages")).to_contain_text("Hi back from the handset")

    # Redact the first message.
    page.goto(message_url)
    page.get_by_role("button", name="Redact text").click()
    expect(page.get_by_text("Hello from the console")).to_have_count(0)
    assert dialogs and "Redact" in dialogs[0]
    api = httpx.get(f"{console_server.url}/v1/users/{creds.user_id}/messages/"
                    f"{message_url.rsplit('/', 1)[1]}", auth=creds.auth)  # fmt: skip
    assert api.json()["text"] == ""

    # Sign out: the pages close again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    page.goto(f"{console_server.url}/console/messages")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.close()


def test_script_in_a_message_renders_as_text(chromium: Any, console_server: ConsoleServer) -> None:
    creds = console_server.create_user([OURS])
    message_id = _api_send(console_server, creds, HANDSET, XSS)
    page = chromium.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, console_server.url, creds)
    page.goto(f"{console_server.url}/console/messages")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    page.goto(f"{console_server.url}/console/messages/{message_id}")
    expect(page.get_by_text(XSS, exact=True)).to_be_visible()
    page.goto(f"{console_server.url}/console/conversations/{OURS}/{HANDSET}")
    expect(page.get_by_role("list", name="Messages")).to_contain_text(XSS)
    assert dialogs == []
    page.close()


def test_another_users_message_stays_hidden(chromium: Any, console_server: ConsoleServer) -> None:
    alice = console_server.create_user([OURS])
    bob = console_server.create_user(["+15550100002"])
    message_id = _api_send(console_server, alice, HANDSET, "for alice's eyes")
    page = chromium.new_page()
    sign_in(page, console_server.url, bob)
    page.goto(f"{console_server.url}/console/messages/{message_id}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.goto(f"{console_server.url}/console/conversations/{OURS}/{HANDSET}")
    expect(page.get_by_text("for alice's eyes")).to_have_count(0)
    page.goto(f"{console_server.url}/console/messages")
    expect(page.get_by_text("for alice's eyes")).to_have_count(0)
    page.close()
