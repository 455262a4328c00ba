"""Screenshots of every console page, at desktop and phone widths, into docs/console/.

Usage: ``python scripts/console_screenshots.py [--out docs/console]``

Starts the real server (console included, engine running, a fresh SQLite store in a
temporary directory) on a free loopback port, a callback receiver beside it, seeds a
believable day of messages through the API and the sandbox phone, then drives Debian's
Chromium (``chromium`` on PATH; nothing is downloaded) through Playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from trebuchet.server.config import Settings
from trebuchet.server.console.app import create_app
from trebuchet.server.serving import uvicorn_config

OURS = ("+15550100001", "+15550100002")
HANDSET = "+15557654321"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200 if "fail" not in self.path else 503)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def serving(settings: Settings) -> Iterator[tuple[str, Any]]:
    app = create_app(settings)
    config = uvicorn_config(app, settings, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", (app, loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def seed(base: str, app_loop: Any, hooks: str) -> Any:
    app, loop = app_loop
    store = app.state.services.store
    created = asyncio.run_coroutine_threadsafe(store.users.create(list(OURS)), loop).result(30)
    auth = (created.user.api_token, created.api_secret)
    api = httpx.Client(base_url=f"{base}/v1/users/{created.user.id}", auth=auth)
    admin = httpx.Client(base_url=base, headers={"Authorization": "Bearer screens"})
    app_id = api.post("/applications", json={
        "name": "Appointments bot", "incomingMessageUrl": f"{hooks}/inbound",
    }).headers["location"].rsplit("/", 1)[1]  # fmt: skip
    number = api.get("/phoneNumbers").json()[0]["id"]
    api.post(f"/phoneNumbers/{number}", json={"applicationId": app_id, "name": "Front desk"})
    sends = [
        ("+15557654321", "Hi Sam, your appointment is confirmed for Tuesday at 10:00."),
        ("+15552368841", "Your verification code is 482913"),
        ("+15559990720", "Reminder: your order #4471 ships today"),
        ("+15559992000", "This one will be refused by the network"),
        ("+15551234567", "Thanks for your payment of $42.00"),
        ("+15559994000", "We'll wait for a receipt on this one forever"),
    ]
    for to, text in sends:
        api.post("/messages", json={
            "from": OURS[0], "to": to, "text": text, "receiptRequested": "all",
            "callbackUrl": f"{hooks}/{'fail' if '2000' in to else 'status'}",
        })  # fmt: skip
    for text in ("Can I move it to 11?", "Great, see you then!"):
        admin.post("/v1/admin/inbound", json={"from": HANDSET, "to": OURS[0], "text": text})
        time.sleep(0.3)
    api.post("/messages", json={"from": OURS[0], "to": HANDSET,
                                "text": "Done — moved to 11:00. See you Tuesday!"})  # fmt: skip
    api.post("/messages", json={"from": OURS[1], "to": "+15553332222",
                                "text": "<script>alert(1)</script> is shown as text"})  # fmt: skip
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * 3600))
    api.post("/messages", json={"from": OURS[0], "to": "+15552368841", "sendAt": send_at,
                                "text": "Your table for 4 is booked for Friday at 19:30",
                                "validityPeriod": 3600})  # fmt: skip
    api.post("/optOuts", json={"recipient": "+15558675309", "number": OURS[0]})
    api.post("/optOuts", json={"recipient": "+15550009999"})  # from every number
    admin.post("/v1/admin/inbound", json={"from": "+15551234567", "to": OURS[0], "text": "STOP"})
    time.sleep(3)
    return created


def shoot(base: str, created: Any, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not on PATH (Debian package 'chromium')")
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for size_name, size in SIZES.items():
            page = browser.new_page(viewport=size, device_scale_factor=1)
            page.goto(f"{base}/console/sign-in")
            taken.append(_snap(page, out, "sign-in", size_name))
            page.get_by_label("API token").fill(created.user.api_token)
            page.get_by_label("API secret").fill(created.api_secret)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url("**/console/dashboard")
            for name, path in pages(base, page):
                page.goto(f"{base}{path}")
                taken.append(_snap(page, out, name, size_name))
            page.close()
        browser.close()
    return taken


def pages(base: str, page: Any) -> list[tuple[str, str]]:
    listed = [
        ("dashboard", "/console/dashboard"),
        ("messages", "/console/messages"),
        ("conversations", f"/console/conversations/{OURS[0]}/{HANDSET}"),
        ("phone", f"/console/phone?handset=%2B{HANDSET[1:]}"),
        ("numbers", "/console/numbers"),
        ("applications", "/console/applications"),
        ("errors", "/console/errors"),
    ]
    page.goto(f"{base}/console/messages?q=appointment")
    link = page.get_by_role("link", name="Hi Sam", exact=False).first
    listed.insert(2, ("message", str(link.get_attribute("href"))))
    page.goto(f"{base}/console/messages?q=table+for+4")
    link = page.get_by_role("link", name="Your table", exact=False).first
    listed.append(("scheduled", str(link.get_attribute("href"))))
    page.goto(f"{base}/console/numbers")
    listed.append(
        ("opt-outs", str(page.get_by_role("link", name="Opt-outs").first.get_attribute("href")))
    )
    return listed


def _snap(page: Any, out: Path, name: str, size: str) -> Path:
    path = out / f"{name}-{size}.png"
    page.screenshot(path=str(path), full_page=size == "desktop")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/console", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp, receiver() as hooks:
        settings = replace(
            Settings(db=f"sqlite:///{temp}/screens.db", media_dir=f"{temp}/media"),
            admin_token="screens", outbound_allow_loopback=True, poll_interval=0.2,
            access_log=False,
        )  # fmt: skip
        with serving(settings) as (base, app_loop):
            created = seed(base, app_loop, hooks)
            for path in shoot(base, created, args.out):
                print(path)


if __name__ == "__main__":
    main()
