"""The sync (and async) client against the real server on a loopback port."""

from __future__ import annotations

import collections
import time
import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import trebuchet
from trebuchet import AsyncClient, Client, RetryPolicy

from .conftest import ScriptedServer, SleepRecorder
from .integration import (
    CORPUS,
    FILTER_CASES,
    FILTER_IDS,
    NUMBERS,
    OWN,
    OWN_2,
    PEER,
    LossyProxy,
    Seed,
    corpus_job,
    expected_ids,
)

BULK = 50


@pytest.fixture
def creds(live_server: Any) -> Any:
    return live_server.create_user(numbers=NUMBERS)


@pytest.fixture
def api(live_server: Any, creds: Any) -> Iterator[Client]:
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
    ) as client:
        yield client


@pytest.fixture
def corpus(live_server: Any, creds: Any) -> list[str]:
    job, ids = corpus_job(creds.user_id)
    live_server.run(live_server.store.messages.insert(job))
    return ids


def bulk_send(api: Client, count: int, text: str = "bulk") -> list[str]:
    """Send ``count`` messages in bulk requests of 50; returns their ids."""
    ids: list[str] = []
    deadline = time.monotonic() + 120
    for start in range(0, count, BULK):
        assert time.monotonic() < deadline, "bulk sending took too long"
        batch = [
            {"from": OWN, "to": PEER, "text": f"{text} {n}"}
            for n in range(start, min(start + BULK, count))
        ]
        results = api.send_messages(batch)
        assert [r["result"] for r in results] == ["accepted"] * len(batch)
        ids += [r["id"] for r in results]
    return ids


# -- round trip ----------------------------------------------------------------------------


def test_send_then_get(api: Client) -> None:
    message_id = api.send_message(OWN, PEER, "Your code is 4417", tag="otp-17")
    assert message_id.startswith("m-")
    message = api.get_message(message_id)
    assert message["id"] == message_id
    assert message["message_id"] == message_id
    assert (message["from"], message["to"], message["text"]) == (OWN, PEER, "Your code is 4417")
    assert message["direction"] == "out"
    assert message["state"] in ("queued", "sending", "sent")
    assert message["segment_count"] == 1
    assert message["media"] == []
    assert all(key == key.lower() for key in message)


def test_send_mms_and_options(api: Client) -> None:
    message_id = api.send_message(
        OWN,
        PEER,
        media=["https://media.example.test/cat.jpg"],
        callback_url="https://app.example.test/events",
        callback_http_method="get",
        callback_timeout=2000,
        fallback_url="https://app.example.test/fallback",
        receipt_requested="none",
    )
    message = api.get_message(message_id)
    assert message["media"] == ["https://media.example.test/cat.jpg"]
    assert message["callback_url"] == "https://app.example.test/events"


def test_factory_client_against_the_server(live_server: Any, creds: Any) -> None:
    api = trebuchet.client(
        "messaging",
        creds.user_id,
        creds.api_token,
        creds.api_secret,
        api_endpoint=live_server.base_url + "/",
    )
    try:
        assert api.get_message(api.send_message(OWN, PEER, "hi"))["text"] == "hi"
    finally:
        api.close()


def test_bulk_send_mixed_results(api: Client) -> None:
    batch = [
        {"from": OWN, "to": PEER, "text": "fine"},
        {"from": OWN, "to": " ", "text": "blank recipient"},
        {"from": OWN, "to": PEER},
        {"from": OWN_2, "to": PEER, "text": "also fine", "tag": "t"},
    ]
    results = api.send_messages(batch)
    assert [r["result"] for r in results] == ["accepted", "error", "error", "accepted"]
    assert results[1]["id"] == "" and results[2]["id"] == ""
    assert results[1]["error"]["code"] == "blank-property"
    assert results[2]["error"]["code"] == "missing-property"
    for result, sent in zip(results, batch, strict=True):
        assert result["message"] is sent
    assert api.get_message(results[3]["id"])["from"] == OWN_2


# -- listing -------------------------------------------------------------------------------


def test_list_messages_is_a_real_lazy_generator(api: Client, corpus: list[str]) -> None:
    messages = api.list_messages(size=5)
    assert isinstance(messages, types.GeneratorType)
    first = next(messages)
    assert first["id"] in corpus
    assert len([first, *messages]) == len(corpus)


@pytest.mark.parametrize(("filters", "keep"), FILTER_CASES, ids=FILTER_IDS)
def test_every_filter(api: Client, corpus: list[str], filters: dict[str, Any], keep: Any) -> None:
    found = [m["id"] for m in api.list_messages(**filters)]
    wanted = expected_ids(corpus, keep)
    assert sorted(found) == sorted(wanted)
    assert len(found) == len(set(found))


def test_sort_order(api: Client, corpus: list[str]) -> None:
    assert [m["id"] for m in api.list_messages(sort_order="asc", size=5)] == corpus
    assert [m["id"] for m in api.list_messages(sort_order="desc", size=5)] == corpus[::-1]


def test_listed_messages_are_snake_cased(api: Client, corpus: list[str]) -> None:
    delivered = next(api.list_messages(delivery_state="delivered"))
    assert delivered["delivery_state"] == "delivered"
    assert delivered["delivery_code"] == 0
    assert delivered["segment_count"] == 1
    assert "skip_mms_carrier_validation" in delivered


def test_readme_example(api: Client, corpus: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    message_list = api.list_messages()

    for message in message_list:
        if message["state"] == "error":
            print(message["id"])

    printed = capsys.readouterr().out.split()
    assert printed == expected_ids(corpus, lambda i, s: s.state == "error")
    assert len(printed) == sum(1 for seed in CORPUS if seed.state == "error")


def test_paging_over_thousands_without_duplicates_or_gaps(api: Client) -> None:
    sent = bulk_send(api, 2_000)
    assert len(set(sent)) == 2_000
    for size, order in ((None, None), (137, "asc"), (1000, "desc"), (999, None)):
        started = time.monotonic()
        seen = [m["id"] for m in api.list_messages(size=size, sort_order=order)]
        assert time.monotonic() - started < 120
        duplicates = [k for k, n in collections.Counter(seen).items() if n > 1]
        assert duplicates == [], (size, order)
        assert set(seen) == set(sent), (size, order)
    times = [m["time"] for m in api.list_messages(size=250, sort_order="asc")]
    assert times == sorted(times)


# -- errors --------------------------------------------------------------------------------


def test_unknown_message_is_not_found(api: Client) -> None:
    with pytest.raises(trebuchet.NotFoundError) as info:
        api.get_message("m-doesnotexist0000000000")
    error = info.value
    assert error.status_code == 404
    assert error.code == "message-not-found"
    assert (
        str(error)
        == "Error message-not-found: The message 'm-doesnotexist0000000000' could not be found"
    )
    assert isinstance(error, trebuchet.BandwidthMessageAPIException)


@pytest.mark.parametrize("wrong", ["token", "secret"])
def test_bad_credentials(live_server: Any, creds: Any, wrong: str) -> None:
    token = "t-wrong" if wrong == "token" else creds.api_token
    secret = "wrong" if wrong == "secret" else creds.api_secret
    with Client(creds.user_id, token, secret, api_endpoint=live_server.base_url) as api:
        with pytest.raises(trebuchet.AuthenticationError) as info:
            api.send_message(OWN, PEER, "x")
        assert info.value.status_code == 401
        assert info.value.code == "access-denied"
        messages = api.list_messages()
        with pytest.raises(trebuchet.AuthenticationError):
            next(messages)


def test_another_users_path_is_denied(live_server: Any, creds: Any) -> None:
    other = live_server.create_user(numbers=["+15550009999"])
    with (
        Client(
            other.user_id, creds.api_token, creds.api_secret, api_endpoint=live_server.base_url
        ) as api,
        pytest.raises(trebuchet.AuthenticationError) as info,
    ):
        api.get_message("m-x")
    assert info.value.code == "user-access-denied"


def test_sending_from_a_number_you_do_not_own(api: Client) -> None:
    with pytest.raises(trebuchet.AuthenticationError) as info:
        api.send_message("+15557770000", PEER, "x")
    assert info.value.code == "number-access-denied"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "missing-property"),
        ({"text": "x" * 2049}, "validation-error"),
        ({"text": "x", "media": ["ftp://not-http.example.test/a.jpg"]}, "media-invalid-url"),
    ],
)
def test_server_side_validation(api: Client, kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(trebuchet.APIStatusError) as info:
        api.send_message(OWN, PEER, **kwargs)
    assert info.value.code == code
    assert info.value.status_code in (400, 403)
    assert str(info.value) == f"Error {code}: {info.value.message}"


def test_bad_request_is_a_bad_request_error(api: Client) -> None:
    with pytest.raises(trebuchet.BadRequestError) as info:
        api.send_message(OWN, PEER)
    assert info.value.status_code == 400
    assert "'text'" in info.value.message


def test_more_than_fifty_in_one_bulk_request(api: Client) -> None:
    batch = [{"from": OWN, "to": PEER, "text": f"n{n}"} for n in range(51)]
    with pytest.raises(trebuchet.PermissionDeniedError) as info:
        api.send_messages(batch)
    error = info.value
    assert error.status_code == 403
    assert error.code == "multi-message-limit"
    assert "[51]" in error.message and "[50]" in error.message
    assert list(api.list_messages()) == []


# -- idempotent retries ----------------------------------------------------------------------


@pytest.fixture
def lossy(live_server: Any, server: ScriptedServer) -> Iterator[tuple[ScriptedServer, LossyProxy]]:
    proxy = LossyProxy(live_server.base_url)
    server.handler = proxy
    try:
        yield server, proxy
    finally:
        proxy.close()


def test_lost_response_is_retried_without_a_duplicate(
    lossy: tuple[ScriptedServer, LossyProxy], creds: Any, api: Client, sleeps: SleepRecorder
) -> None:
    front, proxy = lossy
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=front.url, sleep=sleeps
    ) as flaky:
        message_id = flaky.send_message(OWN, PEER, "exactly once")
    first, replay = proxy.upstream_responses
    assert first.status_code == replay.status_code == 201
    assert first.headers["location"] == replay.headers["location"]
    assert first.headers["location"].endswith("/" + message_id)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    keys = {r.headers["idempotency-key"] for r in front.requests}
    assert len(keys) == 1
    assert len(sleeps.calls) == 1
    assert [m["id"] for m in api.list_messages()] == [message_id]


def test_lost_bulk_response_is_retried_without_duplicates(
    lossy: tuple[ScriptedServer, LossyProxy], creds: Any, api: Client, sleeps: SleepRecorder
) -> None:
    front, proxy = lossy
    proxy.lose = 2
    batch = [{"from": OWN, "to": PEER, "text": f"n{n}"} for n in range(BULK)]
    with Client(
        creds.user_id, creds.api_token, creds.api_secret, api_endpoint=front.url, sleep=sleeps
    ) as flaky:
        results = flaky.send_messages(batch)
    assert len(proxy.upstream_responses) == 3
    bodies = {r.content for r in proxy.upstream_responses}
    assert len(bodies) == 1
    assert [r.headers.get("idempotent-replayed") for r in proxy.upstream_responses] == [
        None,
        "true",
        "true",
    ]
    ids = [r["id"] for r in results]
    assert sorted(m["id"] for m in api.list_messages(size=100)) == sorted(ids)


def test_without_retries_the_lost_response_surfaces(
    lossy: tuple[ScriptedServer, LossyProxy], creds: Any, api: Client
) -> None:
    front, _ = lossy
    with (
        Client(
            creds.user_id, creds.api_token, creds.api_secret, api_endpoint=front.url, max_retries=0
        ) as flaky,
        pytest.raises(trebuchet.APIConnectionError),
    ):
        flaky.send_message(OWN, PEER, "sent, but the answer was lost")
    assert len(list(api.list_messages())) == 1


def test_same_key_replays_the_first_answer(live_server: Any, creds: Any) -> None:
    url = f"{live_server.base_url}/v1/users/{creds.user_id}/messages"
    body = {"from": OWN, "to": PEER, "text": "once"}
    headers = {"Idempotency-Key": "test-key-1"}
    with httpx.Client(auth=creds.auth) as http:
        first = http.post(url, json=body, headers=headers)
        second = http.post(url, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.headers["location"] == second.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"


# -- sync / async parity ---------------------------------------------------------------------


async def test_async_client_gives_the_same_results(
    live_server: Any, creds: Any, corpus: list[str]
) -> None:
    options: dict[str, Any] = {"api_endpoint": live_server.base_url}
    args = (creds.user_id, creds.api_token, creds.api_secret)
    queries: list[dict[str, Any]] = [case for case, _ in FILTER_CASES]
    with Client(*args, **options) as sync_api:
        sync_lists = [list(sync_api.list_messages(**q)) for q in queries]
        sync_one = sync_api.get_message(corpus[0])
        with pytest.raises(trebuchet.NotFoundError) as sync_error:
            sync_api.get_message("m-missing")
    async with AsyncClient(*args, **options) as async_api:
        async_lists = [[m async for m in async_api.list_messages(**q)] for q in queries]
        async_one = await async_api.get_message(corpus[0])
        with pytest.raises(trebuchet.NotFoundError) as async_error:
            await async_api.get_message("m-missing")
        new_id = await async_api.send_message(OWN, PEER, "from async")
        results = await async_api.send_messages([{"from": OWN, "to": PEER, "text": "bulk async"}])
    assert async_lists == sync_lists
    assert async_one == sync_one
    assert str(async_error.value) == str(sync_error.value)
    with Client(*args, **options) as sync_api:
        assert sync_api.get_message(new_id)["text"] == "from async"
        assert sync_api.get_message(results[0]["id"])["text"] == "bulk async"


def test_retry_policy_against_a_live_server(live_server: Any, creds: Any) -> None:
    policy = RetryPolicy(max_retries=0)
    with Client(
        creds.user_id, creds.api_token, creds.api_secret,
        api_endpoint=live_server.base_url, retry_policy=policy,
    ) as api:  # fmt: skip
        assert api.get_message(api.send_message(OWN, PEER, "ok"))["text"] == "ok"


def test_corpus_matches_the_seed_table(api: Client, corpus: list[str]) -> None:
    listed = {m["id"]: m for m in api.list_messages(size=100)}
    for message_id, seed in zip(corpus, CORPUS, strict=True):
        message = listed[message_id]
        assert (
            Seed(
                message["direction"],
                message["state"],
                message["from"],
                message["to"],
                message.get("delivery_state"),
                message.get("delivery_code"),
            )
            == seed
        )
