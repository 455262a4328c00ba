"""Every Python example in docs/sdk.md runs, in order, against the real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .integration import NUMBERS, PEER

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_guide_has_examples_for_every_topic() -> None:
    text = GUIDE.read_text()
    for heading in (
        "## Install",
        "## Create a client",
        "## Send a message",
        "## Send many messages at once",
        "## List messages",
        "## Get one message",
        "## Errors",
        "## Retries",
        "## Idempotency",
        "## Media",
        "## Phone numbers, applications, errors, redaction and export",
        "## Async",
        "## Webhooks",
    ):
        assert heading in text
    assert len(python_blocks()) >= 15


def test_every_example_runs(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = live_server.create_user(numbers=NUMBERS)
    # A number the operator assigned, for the example to order.
    live_server.run(live_server.store.inventory.add(["+15550003333"], user_id=creds.user_id))
    for name, value in {
        "TREBUCHET_API_ENDPOINT": live_server.base_url,
        "TREBUCHET_USER_ID": creds.user_id,
        "TREBUCHET_API_TOKEN": creds.api_token,
        "TREBUCHET_API_SECRET": creds.api_secret,
        "TREBUCHET_FROM": NUMBERS[0],
        "TREBUCHET_TO": PEER,
    }.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "sdk_guide"}
    for line, code in python_blocks():
        exec(compile(code, f"{GUIDE.name}:{line}", "exec"), namespace)
    out = capsys.readouterr().out
    assert f"sent {namespace['message_id']}" in out
    assert "from_ must be an E.164 number" in out
    assert "failed   blank-property" in out
    assert "404 message-not-found" in out
    assert "multi-message-limit" in out
    assert "[0.5, 1.0, 2.0, None]" in out
    assert "unsubscribe +15550002222 event ev-1" in out
    assert "200\n401\n401\n" in out
    assert "media pets/cat.jpg 4\ndownloaded 4 image/jpeg\nmms segments 1\n" in out
    assert "404 media-not-found" in out and "copied 300000 bytes" in out
    assert "mms ('https://sms.example.test/a.jpg', 'https://sms.example.test/b.smil')" in out
    assert "redelivered 0\ncancelled 0\n404 event-not-found\n" in out
    assert "ordered +15550003333 Support line\nrefused number-not-available\n" in out
    assert "one +15550001111\napps ['Inbound']\napp url https://app.example.test/in" in out
    assert "redacted ''\nexported True" in out
    assert namespace["api"]._http.is_closed
