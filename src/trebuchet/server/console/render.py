"""Rendering pages: one Jinja2 environment with autoescaping on, and the security headers
every console answer carries (a Content-Security-Policy without inline scripts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from trebuchet.server.domain.times import format_time

TEMPLATES = Path(__file__).parent / "templates"
# No inline script or style anywhere, no framing, forms post only to the console.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _short_time(micros: int | None) -> str:
    if micros is None:
        return ""
    return datetime.fromtimestamp(micros / 1_000_000, UTC).strftime("%b %d, %H:%M:%S")


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["iso_time"] = lambda micros: format_time(micros) if micros else ""
environment.filters["short_time"] = _short_time


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``template`` rendered with ``context`` (and the request), as an HTML answer."""
    html = environment.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})
