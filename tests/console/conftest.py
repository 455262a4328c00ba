"""The app with its console, in process over each store, and helpers that sign in the way
a browser does (fetch the form, post it with its CSRF token, keep the cookie)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Credentials, Harness, make_settings
from trebuchet.server.config import Settings
from trebuchet.server.console.app import create_app
from trebuchet.server.store import Store

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def console_harness(settings: Settings) -> AsyncIterator[Harness]:
    store = Store(settings.db)
    await store.open()
    app = create_app(settings, store)
    h = Harness(app=app, store=store, settings=settings)
    try:
        async with app.router.lifespan_context(app):
            yield h
            for client in h._clients:
                await client.aclose()
    finally:
        await store.close()


@pytest.fixture
async def console(store_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(store_url, media_dir=str(tmp_path / "media"), admin_token="op-token")
    async with console_harness(settings) as h:
        yield h


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, creds: Credentials, **extra: Any) -> httpx.Response:
    form = await client.get("/console/sign-in")
    data = {"csrf": csrf_of(form.text), "api_token": creds.api_token,
            "api_secret": creds.api_secret, **extra}  # fmt: skip
    return await client.post("/console/sign-in", data=data)


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Load ``page_path``, then post ``data`` to ``action`` with the page's CSRF token."""
    page = await client.get(page_path)
    return await client.post(action, data={"csrf": csrf_of(page.text), **data})
