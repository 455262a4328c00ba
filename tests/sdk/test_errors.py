"""Error mapping (spec §9.1.5) and the exception tree."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

import trebuchet
from trebuchet import Client

from .conftest import CREDS, Reply, ScriptedServer, json_reply


@pytest.fixture
def api(server: ScriptedServer) -> Iterator[Client]:
    with Client(*CREDS, api_endpoint=server.url, max_retries=0) as client:
        yield client


def body(code: str | None, message: str = "Something failed", **extra: object) -> dict[str, object]:
    data: dict[str, object] = {"category": "x", "message": message, "details": [], **extra}
    if code is not None:
        data["code"] = code
    return data


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, trebuchet.BadRequestError),
        (401, trebuchet.AuthenticationError),
        (403, trebuchet.PermissionDeniedError),
        (404, trebuchet.NotFoundError),
        (409, trebuchet.ConflictError),
        (429, trebuchet.RateLimitError),
        (500, trebuchet.InternalServerError),
        (503, trebuchet.InternalServerError),
        (405, trebuchet.APIStatusError),
        (418, trebuchet.APIStatusError),
    ],
)
def test_status_maps_to_a_class(
    server: ScriptedServer, api: Client, status: int, cls: type
) -> None:
    server.add(json_reply(status, body("some-code", "It failed")))
    with pytest.raises(cls) as info:
        api.get_message("m-1")
    error = info.value
    assert type(error) is cls
    assert isinstance(error, trebuchet.APIStatusError)
    assert isinstance(error, trebuchet.TrebuchetError)
    assert isinstance(error, trebuchet.BandwidthMessageAPIException)
    assert error.status_code == status
    assert error.code == "some-code"
    assert error.message == "It failed"
    assert str(error) == "Error some-code: It failed"
    assert error.args == (status, "It failed")
    assert error.response is not None
    assert error.response.status_code == status


def test_json_error_fields(server: ScriptedServer, api: Client) -> None:
    details = [{"name": "messageId", "value": "m-1"}]
    server.add(
        json_reply(
            404,
            {
                "category": "not-found",
                "code": "message-not-found",
                "message": "The message 'm-1' could not be found",
                "details": details,
            },
        )
    )
    with pytest.raises(trebuchet.NotFoundError) as info:
        api.get_message("m-1")
    assert info.value.category == "not-found"
    assert info.value.details == details
    assert str(info.value) == "Error message-not-found: The message 'm-1' could not be found"


def test_code_defaults_to_the_status(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(400, body(None, "This is error")))
    with pytest.raises(trebuchet.BadRequestError) as info:
        api.get_message("m-1")
    assert info.value.code == "400"
    assert str(info.value) == "Error 400: This is error"


def test_plain_text_errors_keep_79_characters(server: ScriptedServer, api: Client) -> None:
    text = "x" * 70 + "0123456789abcdef"
    server.add(Reply(502, text, {"Content-Type": "text/plain"}))
    with pytest.raises(trebuchet.InternalServerError) as info:
        api.get_message("m-1")
    assert info.value.message == text[:79]
    assert len(info.value.message) == 79
    assert info.value.code == "502"


def test_json_body_without_a_message_falls_back_to_the_text(
    server: ScriptedServer, api: Client
) -> None:
    server.add(json_reply(429, {"category": "too-many-requests", "code": "rate-limit-reached"}))
    with pytest.raises(trebuchet.RateLimitError) as info:
        api.get_message("m-1")
    assert info.value.code == "rate-limit-reached"
    assert info.value.message.startswith('{"category": "too-many-requests"')


def test_invalid_json_error_body(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(500, b"{not json", {"Content-Type": "application/json"}))
    with pytest.raises(trebuchet.InternalServerError) as info:
        api.get_message("m-1")
    assert info.value.message == "{not json"


def test_non_utf8_error_body(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(500, b"\xff\xfeoops"))
    with pytest.raises(trebuchet.InternalServerError) as info:
        api.get_message("m-1")
    assert info.value.message.endswith("oops")


def test_rate_limit_error_carries_retry_after(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(429, body("rate-limit-reached"), Retry_After="17"))
    with pytest.raises(trebuchet.RateLimitError) as info:
        api.get_message("m-1")
    assert info.value.retry_after == 17.0


def test_rate_limit_error_without_headers(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(429, body("rate-limit-reached")))
    with pytest.raises(trebuchet.RateLimitError) as info:
        api.get_message("m-1")
    assert info.value.retry_after is None


def test_connection_error(closed_port_url: str) -> None:
    with (
        Client(*CREDS, api_endpoint=closed_port_url, max_retries=0) as api,
        pytest.raises(trebuchet.APIConnectionError) as info,
    ):
        api.get_message("m-1")
    error = info.value
    assert not isinstance(error, trebuchet.APITimeoutError)
    assert error.status_code is None
    assert error.code == "connection-error"
    assert str(error).startswith("Error connection-error: ")
    assert error.__cause__ is not None


def test_dropped_connection_is_a_connection_error(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(drop=True))
    with pytest.raises(trebuchet.APIConnectionError):
        api.get_message("m-1")


def test_timeout_error(server: ScriptedServer) -> None:
    server.add(Reply(200, b"{}", delay=1.0))
    with (
        Client(*CREDS, api_endpoint=server.url, timeout=0.05, max_retries=0) as api,
        pytest.raises(trebuchet.APITimeoutError) as info,
    ):
        api.get_message("m-1")
    assert isinstance(info.value, trebuchet.APIConnectionError)
    assert info.value.status_code is None
    assert info.value.code == "timeout"
    assert str(info.value).startswith("Error timeout: ")


def test_errors_survive_pickling() -> None:
    error = trebuchet.RateLimitError(429, "slow down", "rate-limit-reached", retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is trebuchet.RateLimitError
    assert (copy.status_code, copy.message, copy.code, copy.retry_after) == (
        429,
        "slow down",
        "rate-limit-reached",
        3.0,
    )
    assert str(copy) == str(error)
    timeout = pickle.loads(pickle.dumps(trebuchet.APITimeoutError()))
    assert timeout.code == "timeout"


def test_the_original_exception_signature_still_works() -> None:
    error = trebuchet.BandwidthMessageAPIException(400, "This is error")
    assert str(error) == "Error 400: This is error"
    error = trebuchet.BandwidthMessageAPIException(400, "This is error", code="invalid-request")
    assert str(error) == "Error invalid-request: This is error"
    assert trebuchet.BandwidthMessageAPIException is trebuchet.TrebuchetError


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    from trebuchet import _exceptions

    doc = _exceptions.__doc__ or ""
    for name in (
        "TrebuchetError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "RateLimitError",
        "InternalServerError",
        "APIConnectionError",
        "APITimeoutError",
        "UnexpectedResponseError",
    ):
        assert name in doc
