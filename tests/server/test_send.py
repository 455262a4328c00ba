"""POST /messages: one object (201) or an array (202); every validation error stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Credentials, Harness

FROM = "+15550001111"
TO = "+15550002222"


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    return await harness.create_user([FROM, "+15550003333"])


async def _count(harness: Harness, creds: Credentials) -> int:
    response = await harness.http(creds).get(harness.messages_path(creds), params={"size": 1000})
    return len(response.json())


async def test_send_answers_201_with_an_absolute_location_and_empty_body(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    response = await http.post(
        harness.messages_path(user),
        json={
            "from": FROM,
            "to": TO,
            "text": "Your code is 4417",
            "tag": "otp-17",
            "callbackUrl": "https://app.example.test/sms",
            "receiptRequested": "all",
        },
    )
    assert response.status_code == 201
    assert response.content == b""
    assert "content-type" not in response.headers
    location = response.headers["location"]
    assert location.startswith(f"http://testserver/v1/users/{user.user_id}/messages/m-")
    message_id = location.rsplit("/", 1)[1]

    got = await http.get(f"{harness.messages_path(user)}/{message_id}")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    body = got.json()
    assert body["id"] == body["messageId"] == message_id
    assert body["from"] == FROM and body["to"] == TO and body["direction"] == "out"
    assert body["text"] == "Your code is 4417"
    assert body["media"] == [] and body["segmentCount"] == 1
    assert body["state"] == "queued"
    assert body["receiptRequested"] == "all" and body["deliveryState"] == "waiting"
    assert body["callbackUrl"] == "https://app.example.test/sms"
    assert body["tag"] == "otp-17"
    assert body["skipMMSCarrierValidation"] is False
    assert body["time"].endswith("Z")


async def test_null_is_the_same_as_absent(harness: Harness, user: Credentials) -> None:
    """The Python SDK sends every optional argument, unset ones as null."""
    http = harness.http(user)
    nulls = dict.fromkeys(
        (
            "media",
            "receiptRequested",
            "callbackUrl",
            "callbackHttpMethod",
            "callbackTimeout",
            "fallbackUrl",
            "tag",
        ),
    )
    response = await http.post(
        harness.messages_path(user), json={"from": FROM, "to": TO, "text": "hi", **nulls}
    )
    assert response.status_code == 201
    body = (await http.get(response.headers["location"])).json()
    for absent in ("callbackUrl", "tag", "receiptRequested", "deliveryState", "deliveryCode"):
        assert absent not in body


async def test_callback_timeout_accepts_numbers_and_numeric_strings(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    for value in (2000, "2000"):
        response = await http.post(
            harness.messages_path(user),
            json={
                "from": FROM,
                "to": TO,
                "text": "t",
                "callbackTimeout": value,
                "callbackHttpMethod": "get",
            },
        )
        assert response.status_code == 201, response.text
        body = (await http.get(response.headers["location"])).json()
        assert body["callbackTimeout"] == 2000
        assert body["callbackHttpMethod"] == "get"


async def test_mms_without_text_and_segment_counts(harness: Harness, user: Credentials) -> None:
    http = harness.http(user)
    mms = await http.post(
        harness.messages_path(user),
        json={"from": FROM, "to": TO, "text": None, "media": "https://cdn.example.test/cat.jpg"},
    )
    assert mms.status_code == 201
    body = (await http.get(mms.headers["location"])).json()
    assert body["media"] == ["https://cdn.example.test/cat.jpg"]
    assert body["text"] == "" and body["segmentCount"] == 1

    long_sms = await http.post(
        harness.messages_path(user), json={"from": FROM, "to": TO, "text": "€" * 81}
    )
    assert (await http.get(long_sms.headers["location"])).json()["segmentCount"] == 2


async def test_short_code_destination_is_accepted(harness: Harness, user: Credentials) -> None:
    response = await harness.http(user).post(
        harness.messages_path(user), json={"from": FROM, "to": "12345", "text": "STOP"}
    )
    assert response.status_code == 201


BAD_BODIES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("missing from", {"to": TO, "text": "x"}, 400, "missing-property", "'from'"),
    ("missing to", {"from": FROM, "text": "x"}, 400, "missing-property", "'to'"),
    ("blank to", {"from": FROM, "to": "  ", "text": "x"}, 400, "blank-property", "'to'"),
    ("missing text", {"from": FROM, "to": TO}, 400, "missing-property", "'text'"),
    (
        "from not E.164",
        {"from": "5550001111", "to": TO, "text": "x"},
        400,
        "validation-error",
        "E.164",
    ),
    ("to not E.164", {"from": FROM, "to": "+1-555", "text": "x"}, 400, "validation-error", "'to'"),
    (
        "to wrong type",
        {"from": FROM, "to": 15550002222, "text": "x"},
        400,
        "validation-error",
        "'to'",
    ),
    ("text wrong type", {"from": FROM, "to": TO, "text": ["x"]}, 400, "validation-error", "'text'"),
    (
        "text too long",
        {"from": FROM, "to": TO, "text": "a" * 2049},
        400,
        "validation-error",
        "2,048",
    ),
    (
        "emoji too long",
        {"from": FROM, "to": TO, "text": "😀" * 1025},
        400,
        "validation-error",
        "2,048",
    ),
    (
        "bad receipt",
        {"from": FROM, "to": TO, "text": "x", "receiptRequested": "some"},
        400,
        "validation-error",
        "none, all, error",
    ),
    (
        "media with receipts",
        {"from": FROM, "to": TO, "media": ["https://x.test/a.png"], "receiptRequested": "all"},
        400,
        "validation-error",
        "media",
    ),
    (
        "bad media url",
        {"from": FROM, "to": TO, "media": ["ftp://x.test/a.png"]},
        403,
        "media-invalid-url",
        "ftp://",
    ),
    (
        "media wrong type",
        {"from": FROM, "to": TO, "media": [1]},
        400,
        "validation-error",
        "'media'",
    ),
    (
        "bad callback url",
        {"from": FROM, "to": TO, "text": "x", "callbackUrl": "not a url"},
        400,
        "callback-invalid-url",
        "callbackUrl",
    ),
    (
        "bad fallback url",
        {"from": FROM, "to": TO, "text": "x", "fallbackUrl": "mailto:a@b"},
        400,
        "callback-invalid-url",
        "fallbackUrl",
    ),
    (
        "bad method",
        {"from": FROM, "to": TO, "text": "x", "callbackHttpMethod": "PUT"},
        400,
        "validation-error",
        "GET, POST",
    ),
    (
        "timeout too big",
        {"from": FROM, "to": TO, "text": "x", "callbackTimeout": 10001},
        400,
        "validation-error",
        "10000",
    ),
    (
        "timeout zero",
        {"from": FROM, "to": TO, "text": "x", "callbackTimeout": 0},
        400,
        "validation-error",
        "greater than 0",
    ),
    (
        "timeout text",
        {"from": FROM, "to": TO, "text": "x", "callbackTimeout": "soon"},
        400,
        "validation-error",
        "callbackTimeout",
    ),
    (
        "timeout bool",
        {"from": FROM, "to": TO, "text": "x", "callbackTimeout": True},
        400,
        "validation-error",
        "callbackTimeout",
    ),
    (
        "tag too long",
        {"from": FROM, "to": TO, "text": "x", "tag": "t" * 1025},
        400,
        "validation-error",
        "'tag'",
    ),
    (
        "from not owned",
        {"from": "+15559990000", "to": TO, "text": "x"},
        401,
        "number-access-denied",
        "+15559990000",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_messages_get_the_spec_error_body_and_store_nothing(
    harness: Harness, user: Credentials, body: dict[str, Any], status: int, code: str, fragment: str
) -> None:
    response = await harness.http(user).post(harness.messages_path(user), json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert set(error) == {"category", "code", "message", "details"}
    assert error["code"] == code
    assert fragment in error["message"]
    assert {"name": "requestMethod", "value": "POST"} in error["details"]
    assert await _count(harness, user) == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"from": ', "invalid-json"),
        (b"not json", "invalid-json"),
        (b'"a string"', "invalid-request-body"),
        (b"42", "invalid-request-body"),
        (b"", "invalid-json"),
        (b"[]", "invalid-request-body"),
        (b"[1]", "invalid-request-body"),
        (b"\xff\xfe", "invalid-json"),
    ],
)
async def test_malformed_bodies_are_rejected(
    harness: Harness, user: Credentials, raw: bytes, code: str
) -> None:
    response = await harness.http(user).post(
        harness.messages_path(user), content=raw, headers={"content-type": "application/json"}
    )
    if raw == b"[1]":  # a bulk array whose element is not an object: per-item error
        assert response.status_code == 202
        assert response.json()[0]["error"]["code"] == code
        return
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]


async def test_oversized_body_is_413_and_stores_nothing(
    harness: Harness, user: Credentials
) -> None:
    limit = harness.settings.max_body_bytes
    text = "a" * (limit + 10)
    response = await harness.http(user).post(
        harness.messages_path(user), content=f'{{"from":"{FROM}","to":"{TO}","text":"{text}"}}'
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request-too-large"

    async def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    streamed = await harness.http(user).post(harness.messages_path(user), content=chunks())
    assert streamed.status_code == 413
    assert await _count(harness, user) == 0


async def test_user_without_numbers_gets_no_allocated_number(harness: Harness) -> None:
    creds = await harness.create_user([])
    response = await harness.http(creds).post(
        harness.messages_path(creds), json={"from": FROM, "to": TO, "text": "x"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "no-allocated-number"


async def test_another_users_number_cannot_be_used(harness: Harness, user: Credentials) -> None:
    other = await harness.create_user(["+15557770000"])
    response = await harness.http(user).post(
        harness.messages_path(user), json={"from": other.numbers[0], "to": TO, "text": "x"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "number-access-denied"


async def test_bulk_reports_per_item_in_order_and_keeps_the_good_ones(
    harness: Harness, user: Credentials
) -> None:
    items: list[Any] = [
        {"from": FROM, "to": TO, "text": "one"},
        {"from": FROM, "to": "", "text": "blank"},
        {"from": FROM, "to": TO, "text": "three", "tag": None},
        {"from": "+15559990000", "to": TO, "text": "not mine"},
        {"from": FROM, "to": TO, "text": 5},
        "not an object",
    ]
    response = await harness.http(user).post(harness.messages_path(user), json=items)
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    results = response.json()
    assert [r["result"] for r in results] == [
        "accepted",
        "error",
        "accepted",
        "error",
        "error",
        "error",
    ]
    assert results[1]["error"]["code"] == "blank-property"
    assert results[3]["error"]["code"] == "number-access-denied"
    assert results[4]["error"]["code"] == "validation-error"
    assert all("message" in r["error"] for r in results if r["result"] == "error")
    assert all("location" not in r for r in results if r["result"] == "error")
    texts = []
    for result in (results[0], results[2]):
        got = await harness.http(user).get(result["location"])
        texts.append(got.json()["text"])
    assert texts == ["one", "three"]
    assert await _count(harness, user) == 2


async def test_bulk_over_the_limit_is_rejected_whole(harness: Harness, user: Credentials) -> None:
    items = [{"from": FROM, "to": TO, "text": str(i)} for i in range(51)]
    response = await harness.http(user).post(harness.messages_path(user), json=items)
    assert response.status_code == 403
    assert response.json()["category"] == "limit"
    assert response.json()["code"] == "multi-message-limit"
    assert await _count(harness, user) == 0
    fifty = await harness.http(user).post(harness.messages_path(user), json=items[:50])
    assert fifty.status_code == 202
    assert await _count(harness, user) == 50


async def test_idempotency_key_returns_the_first_result_and_never_a_second_message(
    harness: Harness, user: Credentials
) -> None:
    http = harness.http(user)
    headers = {"Idempotency-Key": "order-17"}
    body = {"from": FROM, "to": TO, "text": "once"}
    first = await http.post(harness.messages_path(user), json=body, headers=headers)
    second = await http.post(harness.messages_path(user), json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.headers["location"] == second.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count(harness, user) == 1

    bulk = [{"from": FROM, "to": TO, "text": "b1"}, {"from": FROM, "to": "", "text": "b2"}]
    one = await http.post(harness.messages_path(user), json=bulk, headers={"Idempotency-Key": "b"})
    two = await http.post(harness.messages_path(user), json=bulk, headers={"Idempotency-Key": "b"})
    assert one.status_code == two.status_code == 202
    assert one.json() == two.json()
    assert await _count(harness, user) == 2

    other = await harness.create_user(["+15556660000"])  # keys are per user
    theirs = await harness.http(other).post(
        harness.messages_path(other),
        json={"from": "+15556660000", "to": TO, "text": "x"},
        headers=headers,
    )
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers


async def test_concurrent_requests_with_one_key_create_one_message(
    harness: Harness, user: Credentials
) -> None:
    import asyncio

    http = harness.http(user)
    responses = await asyncio.gather(
        *[
            http.post(
                harness.messages_path(user),
                json={"from": FROM, "to": TO, "text": "race"},
                headers={"Idempotency-Key": "race"},
            )
            for _ in range(20)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.headers["location"] for r in responses}) == 1
    assert await _count(harness, user) == 1


async def test_idempotency_key_too_long_is_rejected(harness: Harness, user: Credentials) -> None:
    response = await harness.http(user).post(
        harness.messages_path(user),
        json={"from": FROM, "to": TO, "text": "x"},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 400
    assert await _count(harness, user) == 0


async def test_unknown_properties_are_ignored(harness: Harness, user: Credentials) -> None:
    response = await harness.http(user).post(
        harness.messages_path(user), json={"from": FROM, "to": TO, "text": "x", "priority": "high"}
    )
    assert response.status_code == 201
