"""Next-page links are followed only within the origin of ``api_endpoint``, so the
credentials sent with every request never reach another scheme, host or port."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable

import httpx
import pytest

import trebuchet
from trebuchet import AsyncClient, Client, CrossOriginLinkError

from .conftest import CREDS, ScriptedServer, json_reply

ENDPOINT = "https://api.example.test"
MESSAGES = "/v1/users/u-testuser/messages"

# Each points the next page somewhere the credentials must not go.
FOREIGN_LINKS = [
    f"https://evil.example.test{MESSAGES}?c=2",  # another host
    f"https://api.example.test:8443{MESSAGES}?c=2",  # another port
    f"http://api.example.test{MESSAGES}?c=2",  # plain http
    f"http://api.example.test:443{MESSAGES}?c=2",  # plain http on the https port
    f"https://api.example.test@evil.example.test{MESSAGES}?c=2",  # userinfo naming our host
    f"https://api.example.test:443@evil.example.test{MESSAGES}?c=2",
    f"https://user:pw@api.example.test{MESSAGES}?c=2",  # credentials of the link's own
    f"https://api.example.test.evil.example.test{MESSAGES}?c=2",  # our host as a prefix
    f"ftp://api.example.test{MESSAGES}?c=2",
]

# Same origin, spelt differently: followed.
SAME_ORIGIN_LINKS = [
    f"https://api.example.test{MESSAGES}?c=2",
    f"https://API.Example.TEST:443{MESSAGES}?c=2",
    f"HTTPS://api.example.test{MESSAGES}?c=2",
    f"{MESSAGES}?c=2",  # relative: resolved against the endpoint
    "messages?c=2",  # relative to the current page
    f"//evil.example.test{MESSAGES}?c=2",  # a path on our host (the /-prefix rule)
]


class Recorder:
    """A transport answering every request, recording where each one went and with what."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            return httpx.Response(
                200, json=[{"id": "a"}], headers={"Link": f'<{self.link}>; rel="next"'}
            )
        return httpx.Response(200, json=[{"id": "b"}])

    def hosts(self) -> list[tuple[str, str, int | None]]:
        return [(r.url.scheme, r.url.host, r.url.port) for r in self.requests]


def sync_ids(recorder: Recorder) -> list[str]:
    with Client(*CREDS, api_endpoint=ENDPOINT, transport=httpx.MockTransport(recorder)) as api:
        return [m["id"] for m in api.list_messages()]


async def async_ids(recorder: Recorder) -> list[str]:
    async with AsyncClient(
        *CREDS, api_endpoint=ENDPOINT, transport=httpx.MockTransport(recorder)
    ) as api:
        return [m["id"] async for m in api.list_messages()]


Lister = Callable[[Recorder], list[str]]


@pytest.fixture(params=["sync", "async"])
def list_ids(request: pytest.FixtureRequest) -> Lister:
    if request.param == "sync":
        return sync_ids

    def run_async(recorder: Recorder) -> list[str]:
        return asyncio.run(async_ids(recorder))

    return run_async


@pytest.mark.parametrize("link", FOREIGN_LINKS)
def test_a_link_outside_the_origin_is_refused_before_any_request(
    list_ids: Lister, link: str
) -> None:
    recorder = Recorder(link)
    with pytest.raises(CrossOriginLinkError) as info:
        list_ids(recorder)
    assert info.value.link == link
    assert link in str(info.value)
    assert isinstance(info.value, trebuchet.UnexpectedResponseError)
    # Only the first page was requested, at the endpoint; nothing went to the link.
    assert recorder.hosts() == [("https", "api.example.test", None)]
    assert recorder.requests[0].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize("link", SAME_ORIGIN_LINKS)
def test_a_link_within_the_origin_is_followed_with_credentials(list_ids: Lister, link: str) -> None:
    recorder = Recorder(link)
    assert list_ids(recorder) == ["a", "b"]
    assert recorder.hosts() == [("https", "api.example.test", None)] * 2
    assert all(r.headers["authorization"].startswith("Basic ") for r in recorder.requests)


def test_default_ports_are_the_same_origin_as_no_port() -> None:
    recorder = Recorder(f"http://api.example.test{MESSAGES}?c=2")
    with Client(
        *CREDS, api_endpoint="http://API.example.test:80", transport=httpx.MockTransport(recorder)
    ) as api:
        assert [m["id"] for m in api.list_messages()] == ["a", "b"]


def test_the_items_of_the_page_are_delivered_before_the_error() -> None:
    recorder = Recorder(f"https://evil.example.test{MESSAGES}")
    with Client(*CREDS, api_endpoint=ENDPOINT, transport=httpx.MockTransport(recorder)) as api:
        messages = api.list_messages()
        assert next(messages)["id"] == "a"
        with pytest.raises(CrossOriginLinkError):
            next(messages)


def test_an_invalid_link_is_an_sdk_error() -> None:
    recorder = Recorder("https://api.example.test:abc/x")
    with pytest.raises(trebuchet.UnexpectedResponseError, match="not a valid URL"):
        sync_ids(recorder)
    assert len(recorder.requests) == 1


def test_the_error_survives_pickling() -> None:
    error = CrossOriginLinkError("https://evil.example.test/x", ENDPOINT)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.link, str(copy), copy.code) == (error.link, str(error), "unexpected-response")


def test_another_port_on_loopback_receives_nothing(server: ScriptedServer) -> None:
    """Over real sockets: the API on one port names another local server in its link."""
    other = ScriptedServer()
    try:
        other.add(json_reply(200, [{"id": "stolen"}]))
        server.add(json_reply(200, [{"id": "a"}], Link=f'<{other.url}{MESSAGES}>; rel="next"'))
        with Client(*CREDS, api_endpoint=server.url, max_retries=0) as api:
            messages = api.list_messages()
            assert next(messages)["id"] == "a"
            with pytest.raises(CrossOriginLinkError, match=other.url):
                next(messages)
        assert other.requests == []
        assert len(server.requests) == 1
    finally:
        other.close()
