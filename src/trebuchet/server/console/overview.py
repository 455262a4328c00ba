"""The user's error log (through the API's ``error_page``) and the dashboard, whose
figures the store computes (``store/console.py`` ``figures``), so they hold across every
process sharing the database."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from trebuchet.server.api.user_errors import error_json, error_page
from trebuchet.server.console.message_pages import with_query
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain.times import now_us

ERRORS_SHOWN = 50
HOUR_US = 3600 * 1_000_000
WINDOWS = {"hour": (HOUR_US, 12), "day": (24 * HOUR_US, 24)}


async def error_log(p: Page) -> Response:
    pairs = [("size", str(ERRORS_SHOWN))]
    cursor = p.request.query_params.get("sortKeyLT")
    if cursor:
        pairs.append(("sortKeyLT", cursor))
    rows, token = await error_page(with_query(p.ctx, pairs))
    shown = []
    for row in rows:
        error = error_json(row)
        values = {d["name"]: d["value"] for d in error["details"]}
        shown.append({**error, "message_id": values.get("messageId")})
    next_url = f"{PREFIX}/errors?{urlencode({'sortKeyLT': token})}" if token else None
    return p.render("errors.html", nav="errors", errors=shown, next_url=next_url)


async def dashboard(p: Page) -> Response:
    window = p.request.query_params.get("window", "hour")
    if window not in WINDOWS:
        window = "hour"
    span, buckets = WINDOWS[window]
    now = now_us()
    figures = await p.ctx.store.console.figures(p.user_id, now - span, buckets, now)
    peak = max([out + inbound for _, out, inbound in figures.throughput] + [1])
    callbacks = figures.callbacks_delivered + figures.callbacks_failed
    rate = None if callbacks == 0 else round(100 * figures.callbacks_delivered / callbacks, 1)
    bars = [
        {"start": start, "out": out, "in": inbound,
         "out_step": round(20 * out / peak), "in_step": round(20 * inbound / peak)}
        for start, out, inbound in figures.throughput
    ]  # fmt: skip
    return p.render(
        "dashboard.html", nav="dashboard", window=window, figures=figures, rate=rate,
        bars=bars, windows=tuple(WINDOWS),
    )  # fmt: skip


routes = [
    console_route(f"{PREFIX}/errors", error_log),
    console_route(f"{PREFIX}/dashboard", dashboard),
]
