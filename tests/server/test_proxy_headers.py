"""Behind a load balancer: X-Forwarded-Proto and X-Forwarded-For are believed from the
peers in ``trusted_proxies`` only (the real server on a loopback socket)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings, running_server
from trebuchet.server.config import load_settings

FROM, TO = "+15550001111", "+15557654321"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def _location(sqlite_url: str, tmp_path: Path, trusted: str) -> str:
    settings = make_settings(sqlite_url, media_dir=str(tmp_path / "media"), trusted_proxies=trusted)
    with running_server(settings) as live:
        user = live.create_user([FROM])
        answer = httpx.post(
            f"{live.base_url}/v1/users/{user.user_id}/messages",
            json={"from": FROM, "to": TO, "text": "hi"},
            auth=user.auth,
            headers=FORWARDED,
        )
        assert answer.status_code == 201, answer.text
        return answer.headers["Location"]


@pytest.mark.parametrize(
    ("trusted", "scheme"),
    [("127.0.0.1,::1", "https"), ("127.0.0.0/8", "https"), ("10.0.0.0/8", "http"), ("", "http")],
)
def test_the_scheme_comes_from_a_trusted_proxy_only(
    sqlite_url: str, tmp_path: Path, trusted: str, scheme: str
) -> None:
    location = _location(sqlite_url, tmp_path, trusted)
    assert location.startswith(f"{scheme}://127.0.0.1:"), location


@pytest.mark.parametrize(("trusted", "blocked"), [("127.0.0.1", False), ("", True)])
def test_failed_auth_counts_the_forwarded_client_behind_a_trusted_proxy(
    sqlite_url: str, tmp_path: Path, trusted: str, blocked: bool
) -> None:
    """Two clients behind one proxy: one that keeps failing blocks only itself, unless
    the proxy is not trusted, when both look like the proxy's own address."""
    settings = make_settings(
        sqlite_url,
        media_dir=str(tmp_path / "media"),
        trusted_proxies=trusted,
        auth_failure_limit_ip=3,
    )
    with running_server(settings) as live:
        user = live.create_user([FROM])
        url = f"{live.base_url}/v1/users/{user.user_id}/messages"
        for _ in range(4):
            bad = httpx.get(
                url, auth=(user.auth[0], "wrong"), headers={"X-Forwarded-For": "198.51.100.1"}
            )
            assert bad.status_code in (401, 429)
        other = httpx.get(url, auth=user.auth, headers={"X-Forwarded-For": "203.0.113.7"})
        assert other.status_code == (429 if blocked else 200), other.text


def test_trusted_proxies_are_checked_when_settings_load() -> None:
    assert load_settings(environ={"TREBUCHET_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
    assert load_settings(environ={"TREBUCHET_TRUSTED_PROXIES": "*"}).trusted_proxies == "*"
    with pytest.raises(ValueError, match=r"trusted_proxies \(TREBUCHET_TRUSTED_PROXIES\)"):
        load_settings(environ={"TREBUCHET_TRUSTED_PROXIES": "lb.internal"})
