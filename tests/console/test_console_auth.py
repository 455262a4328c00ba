"""Signing in to the console: user credentials, the operator's admin token, the session
cookie's attributes, CSRF on every form, sign-out, idle expiry and the shared throttle."""

from __future__ import annotations

from dataclasses import replace

import httpx
from sqlalchemy import select

from tests.conftest import Harness
from tests.console.conftest import console_harness, csrf_of, post_form, sign_in
from trebuchet.server.store import tables as t
from trebuchet.server.store.console_sessions import key_hash


async def test_a_page_without_a_session_redirects_to_sign_in(console: Harness) -> None:
    client = console.http()
    response = await client.get("/console/messages")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/messages"
    form = await client.get("/console/sign-in")
    assert 'for="api_token">API token</label>' in form.text
    assert 'for="api_secret">API secret</label>' in form.text


async def test_root_redirects_to_the_console(console: Harness) -> None:
    response = await console.http().get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"


async def test_signing_in_sets_a_strict_http_only_cookie(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    client = console.http()
    response = await sign_in(client, creds)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/dashboard"
    cookie = next(
        value for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("trebuchet_console=")
    )  # fmt: skip
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    page = await client.get("/console/messages")
    assert page.status_code == 200
    assert creds.user_id in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


async def test_https_requests_get_a_secure_cookie(console: Harness) -> None:
    creds = await console.create_user()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="https://testserver"
    )
    async with client:
        response = await sign_in(client, creds)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


async def test_wrong_credentials_are_refused_and_signed_out_pages_stay_closed(
    console: Harness,
) -> None:
    creds = await console.create_user()
    client = console.http()
    response = await sign_in(client, replace(creds, api_secret="wrong"))
    assert response.status_code == 401
    assert "did not match" in response.text
    assert (await client.get("/console/messages")).status_code == 303


async def test_failed_sign_ins_count_against_the_api_throttle(
    store_url: str, tmp_path: object
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(store_url, auth_failure_limit_ip=3, auth_failure_limit_token=0)
    async with console_harness(settings) as h:
        creds = await h.create_user()
        client = h.http()
        for _ in range(3):
            assert (await sign_in(client, replace(creds, api_secret="x"))).status_code == 401
        blocked = await sign_in(client, creds)
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        # The API sees the same counter: the same client is blocked there too.
        api = await h.http(creds).get(h.messages_path(creds))
        assert api.status_code == 429


async def test_a_post_without_the_csrf_token_is_refused(console: Harness) -> None:
    creds = await console.create_user()
    client = console.http()
    await sign_in(client, creds)
    response = await client.post("/console/sign-out", data={"csrf": "forged"})
    assert response.status_code == 403
    assert (await client.get("/console/messages")).status_code == 200
    no_token = await client.post(
        "/console/sign-in", data={"api_token": creds.api_token, "api_secret": creds.api_secret}
    )
    assert no_token.status_code == 403


async def test_sign_out_ends_the_session_on_the_server(console: Harness) -> None:
    creds = await console.create_user()
    client = console.http()
    await sign_in(client, creds)
    key = client.cookies.get("trebuchet_console")
    response = await post_form(client, "/console/messages", "/console/sign-out", {})
    assert response.status_code == 303
    assert (await client.get("/console/messages")).status_code == 303
    # The old cookie replayed after sign-out opens nothing.
    replay = console.http(cookies={"trebuchet_console": key or ""})
    assert (await replay.get("/console/messages")).status_code == 303


async def test_an_idle_session_expires(store_url: str) -> None:
    from tests.conftest import make_settings

    settings = make_settings(store_url, console_idle_minutes=0.000001)
    async with console_harness(settings) as h:
        creds = await h.create_user()
        client = h.http()
        await sign_in(client, creds)
        assert (await client.get("/console/messages")).status_code == 303


async def test_the_operator_signs_in_with_the_admin_token_and_picks_a_user(
    console: Harness,
) -> None:
    alice = await console.create_user()
    client = console.http()
    form = await client.get("/console/sign-in")
    wrong = await client.post("/console/sign-in", data={"csrf": csrf_of(form.text),
                                                        "admin_token": "nope"})  # fmt: skip
    assert wrong.status_code == 401
    form = await client.get("/console/sign-in")
    response = await client.post(
        "/console/sign-in", data={"csrf": csrf_of(form.text), "admin_token": "op-token"}
    )
    assert response.headers["location"] == "/console/operator/users"
    # Until a user is picked, user pages lead to the picker.
    assert (await client.get("/console/messages")).headers["location"] == "/console/operator/users"
    picked = await post_form(
        client, "/console/operator/users", "/console/operator/users", {"user_id": alice.user_id}
    )
    assert picked.status_code == 303
    page = await client.get("/console/messages")
    assert page.status_code == 200
    assert alice.user_id in page.text
    assert "operator" in page.text


async def test_a_user_session_cannot_use_the_operator_picker(console: Harness) -> None:
    alice = await console.create_user()
    bob = await console.create_user()
    client = console.http()
    await sign_in(client, alice)
    page = await client.get("/console/messages")
    response = await client.post(
        "/console/operator/users", data={"csrf": csrf_of(page.text), "user_id": bob.user_id}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")
    assert alice.user_id in (await client.get("/console/messages")).text


DOCUMENTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


async def test_what_the_security_page_promises_about_the_console(console: Harness) -> None:
    creds = await console.create_user(["+15550100001"])
    client = console.http()
    signed_in = await sign_in(client, creds)
    key = client.cookies["trebuchet_console"]
    pages = [await console.http().get("/console/sign-in"), await client.get("/console/messages"),
             await client.get("/console/messages/m-nosuchmessage")]  # fmt: skip
    assert [page.status_code for page in pages] == [200, 200, 404]
    for page in pages:
        assert page.headers["content-security-policy"] == DOCUMENTED_CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["cache-control"] == "no-store"
    # The cookie is no API credential, and the store holds only the key's hash.
    api = console.http(cookies={"trebuchet_console": key})
    assert (await api.get(console.messages_path(creds))).status_code == 401
    async with console.store.read() as conn:
        rows = (await conn.execute(select(t.console_sessions))).mappings().all()
    assert [row["id"] for row in rows] == [key_hash(key)] and key not in str(rows)
    # After signing in, only a console path is a destination (no open redirect).
    other = console.http()
    away = await sign_in(other, creds, next="https://evil.example/")
    assert signed_in.headers["location"] == away.headers["location"] == "/console/dashboard"
