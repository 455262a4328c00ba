"""Conversations: threads by (our number, their number) in chat bubbles, with MMS
thumbnails of the user's own media, and a reply box that sends through the API's own
``send_one`` (``api/messages.py``): the same validation, ownership and media checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec
from starlette.responses import RedirectResponse, Response

from trebuchet.server.api.media import download
from trebuchet.server.api.message_output import message_out
from trebuchet.server.api.messages import send_one
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain import errors

THREADS = 50
THREAD_MESSAGES = 100
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def thread_url(ours: str, theirs: str) -> str:
    return f"{PREFIX}/conversations/{quote(ours)}/{quote(theirs)}"


def media_view(p: Page, url: str) -> dict[str, Any]:
    """How the console shows one media URL: the user's own files through the console
    (a thumbnail for images), anything else as a plain link."""
    own = f"/v1/users/{p.user_id}/media/"
    _, found, name = url.partition(own)
    if found and name:
        local = f"{PREFIX}/media/{quote(name)}"
        return {"url": local, "image": name.lower().endswith(IMAGE_SUFFIXES), "name": name}
    return {"url": url if url.startswith(("http://", "https://")) else "", "image": False,
            "name": url}  # fmt: skip


def bubbles(p: Page, rows: Any) -> list[dict[str, Any]]:
    shown = []
    for row in rows:
        message = message_out(row)
        media = [media_view(p, url) for url in json.loads(bytes(message.media))]
        shown.append({"message": message, "media": media})
    return shown


async def _threads(p: Page) -> list[Mapping[str, Any]]:
    return await p.ctx.store.console.conversations(p.user_id, THREADS)


async def conversations(p: Page) -> Response:
    numbers = await p.ctx.store.numbers.list(p.user_id, {}, None, 100)
    return p.render(
        "conversations.html", nav="conversations", threads=await _threads(p), current=None,
        numbers=numbers, problem=None, thread_url=thread_url,
    )  # fmt: skip


async def _thread_page(p: Page, problem: str | None = None, status: int = 200) -> Response:
    ours, theirs = p.request.path_params["ours"], p.request.path_params["theirs"]
    rows = await p.ctx.store.console.thread(p.user_id, ours, theirs, THREAD_MESSAGES)
    owned = await p.ctx.store.numbers.get(p.user_id, ours) is not None
    if not rows and not owned:
        raise errors.not_found("conversation", f"{ours} / {theirs}")
    context: dict[str, Any] = {
        "nav": "conversations", "ours": ours, "theirs": theirs, "bubbles": bubbles(p, rows),
        "owned": owned, "problem": problem, "thread_url": thread_url,
        "draft": p.form.get("text", ""),
    }  # fmt: skip
    if p.request.headers.get("hx-request"):
        return p.render("_thread.html", status, **context)
    return p.render("conversation.html", status, threads=await _threads(p), current=(ours, theirs),
                    **context)  # fmt: skip


async def thread(p: Page) -> Response:
    return await _thread_page(p)


def _message_json(ours: str, theirs: str, text: str, media_url: str) -> bytes:
    body: dict[str, Any] = {"from": ours, "to": theirs, "text": text}
    if media_url.strip():
        body["media"] = [media_url.strip()]
    return msgspec.json.encode(body)


async def reply(p: Page) -> Response:
    ours, theirs = p.request.path_params["ours"], p.request.path_params["theirs"]
    raw = _message_json(ours, theirs, p.form.get("text", ""), p.form.get("media", ""))
    try:
        await send_one(p.ctx, raw)
    except errors.ApiError as exc:
        if exc.status >= 500:
            raise
        return await _thread_page(p, exc.message, exc.status)
    return RedirectResponse(thread_url(ours, theirs), 303)


async def start(p: Page) -> Response:
    """A new conversation: the first message, sent like any other."""
    ours, theirs = p.form.get("from", ""), p.form.get("to", "").strip()
    raw = _message_json(ours, theirs, p.form.get("text", ""), "")
    try:
        await send_one(p.ctx, raw)
    except errors.ApiError as exc:
        if exc.status >= 500:
            raise
        numbers = await p.ctx.store.numbers.list(p.user_id, {}, None, 100)
        return p.render(
            "conversations.html", exc.status, nav="conversations", threads=await _threads(p),
            current=None, numbers=numbers, problem=exc.message, thread_url=thread_url,
        )  # fmt: skip
    return RedirectResponse(thread_url(ours, theirs), 303)


async def media(p: Page) -> Response:
    """One of the user's media files, answered as the API's download answers it."""
    return await download(p.ctx)


routes = [
    console_route(f"{PREFIX}/conversations", conversations),
    console_route(f"{PREFIX}/conversations", start, ("POST",)),
    console_route(f"{PREFIX}/conversations/{{ours}}/{{theirs}}", thread),
    console_route(f"{PREFIX}/conversations/{{ours}}/{{theirs}}", reply, ("POST",)),
    console_route(f"{PREFIX}/media/{{media_name:media}}", media),
]
