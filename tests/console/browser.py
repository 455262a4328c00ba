"""Driving Debian's Chromium through Playwright against the real server on a real socket.

Nothing is downloaded: the browser is the system's ``chromium`` (``.ci/run`` installs it
with apt when it is missing), and tests that need it skip with the reason when it is not
there.  The server runs with its engine, so messages really move through their states.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Credentials, LiveServer, credentials, make_settings, running_server
from trebuchet.server.console.app import create_app

CHROMIUM = shutil.which("chromium")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass
class ConsoleServer:
    live: LiveServer

    @property
    def url(self) -> str:
        return self.live.base_url

    def create_user(self, numbers: list[str]) -> Credentials:
        return credentials(self.live.run(self.live.store.users.create(numbers)))


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[ConsoleServer]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'console.db'}",
        media_dir=str(tmp_path / "media"),
        admin_token="operator-secret",
        poll_interval=0.2,
    )
    with running_server(settings, app_factory=create_app) as live:
        yield ConsoleServer(live)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, base_url: str, creds: Credentials) -> None:
    page.goto(f"{base_url}/console/")
    page.get_by_label("API token").fill(creds.api_token)
    page.get_by_label("API secret").fill(creds.api_secret)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/dashboard")
