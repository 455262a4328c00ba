"""The console's home: it opens on the dashboard."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from trebuchet.server.console.session import PREFIX, Page, console_route


async def home(p: Page) -> Response:
    return RedirectResponse(f"{PREFIX}/dashboard", 303)


routes = [console_route(f"{PREFIX}/", home), console_route(PREFIX, home)]
