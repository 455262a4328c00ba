"""The sync client against a scripted server on a real loopback socket (spec §9.1)."""

from __future__ import annotations

import base64
import inspect
import types
import uuid
from collections.abc import Iterator

import httpx
import pytest

import trebuchet
from trebuchet import Client

from .conftest import CREDS, Reply, ScriptedServer, json_reply

MESSAGES = "/v1/users/u-testuser/messages"


@pytest.fixture
def api(server: ScriptedServer) -> Iterator[Client]:
    with Client(*CREDS, api_endpoint=server.url, max_retries=0) as client:
        yield client


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "creds",
    [(None, "t", "s"), ("u", None, "s"), ("u", "t", None), ("", "t", "s"), ("u", "", "s"), ()],
)
def test_missing_credentials_raise_value_error(creds: tuple[str | None, ...]) -> None:
    with pytest.raises(ValueError, match="user_id, api_token and api_secret are required"):
        Client(*creds)


def test_factory_builds_a_messaging_client(server: ScriptedServer) -> None:
    api = trebuchet.client("messaging", *CREDS, api_endpoint=server.url)
    try:
        assert isinstance(api, Client)
        assert api.user_id == "u-testuser"
    finally:
        api.close()


@pytest.mark.parametrize("name", ["voice", "account", "numbers", "catapult", "Messaging", ""])
def test_factory_rejects_other_clients(name: str) -> None:
    with pytest.raises(ValueError, match="messaging"):
        trebuchet.client(name, *CREDS)


def test_factory_requires_credentials() -> None:
    with pytest.raises(ValueError, match="required"):
        trebuchet.client("messaging")


def test_defaults() -> None:
    with Client(*CREDS) as api:
        assert api.api_endpoint == "http://127.0.0.1:8080"
        assert api.api_version == "v1"
        assert api.retry_policy.max_retries == 2
        assert api._http.timeout.connect == 5.0
        assert api._http.timeout.read == 30.0


def test_repr_does_not_leak_the_secret() -> None:
    with Client(*CREDS) as api:
        assert "s3cret" not in repr(api)
        assert "t-token" not in repr(api)
        assert "u-testuser" in repr(api)


def test_http_client_and_transport_are_exclusive() -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="not both"):
        Client(*CREDS, http_client=http, transport=httpx.HTTPTransport())


@pytest.mark.parametrize(("endpoint", "version"), [("", "v1"), ("http://h", "")])
def test_empty_endpoint_or_version(endpoint: str, version: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Client(*CREDS, api_endpoint=endpoint, api_version=version)


def test_async_http_client_is_refused() -> None:
    with pytest.raises(TypeError):
        Client(*CREDS, http_client=httpx.AsyncClient())  # type: ignore[arg-type]


# -- URLs and headers --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/", "//"])
def test_trailing_slash_on_the_endpoint_is_dropped(server: ScriptedServer, suffix: str) -> None:
    server.add(json_reply(200, {"id": "m-1"}))
    with Client(*CREDS, api_endpoint=server.url + suffix) as api:
        api.get_message("m-1")
    assert server.requests[0].target == f"{MESSAGES}/m-1"


def test_api_version_is_configurable(server: ScriptedServer) -> None:
    server.add(json_reply(200, {"id": "m-1"}))
    with Client(*CREDS, api_endpoint=server.url, api_version="v9") as api:
        api.get_message("m-1")
    assert server.requests[0].path == "/v9/users/u-testuser/messages/m-1"


def test_endpoint_with_a_path_prefix(server: ScriptedServer) -> None:
    server.add(json_reply(200, {"id": "m-1"}))
    with Client(*CREDS, api_endpoint=server.url + "/sms/") as api:
        api.get_message("m-1")
    assert server.requests[0].path == "/sms/v1/users/u-testuser/messages/m-1"


def test_auth_user_agent_and_custom_headers(server: ScriptedServer) -> None:
    server.add(json_reply(200, {"id": "m-1"}))
    with Client(*CREDS, api_endpoint=server.url, headers={"X-Trace": "abc"}) as api:
        api.get_message("m-1")
    headers = server.requests[0].headers
    assert headers["authorization"] == "Basic " + base64.b64encode(b"t-token:s3cret").decode()
    assert headers["user-agent"] == f"trebuchet-python/{trebuchet.__version__}"
    assert headers["x-trace"] == "abc"
    assert "idempotency-key" not in headers


def test_path_ids_are_percent_encoded(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(200, {"id": "x"}))
    api.get_message("m-a/../b?c")
    assert server.requests[0].target == f"{MESSAGES}/m-a%2F..%2Fb%3Fc"


# -- get_message ---------------------------------------------------------------------------


def test_get_message_snake_cases_keys(server: ScriptedServer, api: Client) -> None:
    server.add(
        json_reply(
            200,
            {
                "id": "m-1",
                "messageId": "m-1",
                "from": "+15550001111",
                "skipMMSCarrierValidation": False,
                "segmentCount": 1,
                "media": [],
            },
        )
    )
    assert api.get_message("m-1") == {
        "id": "m-1",
        "message_id": "m-1",
        "from": "+15550001111",
        "skip_mms_carrier_validation": False,
        "segment_count": 1,
        "media": [],
    }
    assert server.requests[0].method == "GET"


@pytest.mark.parametrize("bad", ["", None, 5])
def test_get_message_needs_an_id(api: Client, bad: object, server: ScriptedServer) -> None:
    with pytest.raises(ValueError, match="id must be"):
        api.get_message(bad)  # type: ignore[arg-type]
    assert server.requests == []


def test_json_content_type_with_parameters_is_json(server: ScriptedServer, api: Client) -> None:
    server.add(
        Reply(200, b'{"messageId": "m-1"}', {"Content-Type": "application/json; charset=utf-8"})
    )
    assert api.get_message("m-1") == {"message_id": "m-1"}


def test_non_json_success_is_an_unexpected_response(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(200, "<html>", {"Content-Type": "text/html"}))
    with pytest.raises(trebuchet.UnexpectedResponseError) as info:
        api.get_message("m-1")
    assert info.value.status_code == 200
    assert info.value.code == "unexpected-response"


def test_broken_json_is_an_unexpected_response(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(200, b"", {"Content-Type": "application/json"}))
    with pytest.raises(trebuchet.UnexpectedResponseError):
        api.get_message("m-1")


# -- send_message --------------------------------------------------------------------------


def created(message_id: str = "m-new", server_url: str = "https://sms.example.test") -> Reply:
    return Reply(201, b"", {"Location": f"{server_url}{MESSAGES}/{message_id}"})


def test_send_message_posts_all_ten_keys(server: ScriptedServer, api: Client) -> None:
    server.add(created("m-abc"))
    assert api.send_message("+15550001111", "+15550002222", "hello") == "m-abc"
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", MESSAGES)
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "from": "+15550001111",
        "to": "+15550002222",
        "text": "hello",
        "media": None,
        "receiptRequested": None,
        "callbackUrl": None,
        "callbackHttpMethod": None,
        "callbackTimeout": None,
        "fallbackUrl": None,
        "tag": None,
    }
    uuid.UUID(request.headers["idempotency-key"], version=4)


def test_send_message_with_every_option_and_extras(server: ScriptedServer, api: Client) -> None:
    server.add(created())
    api.send_message(
        from_="+15550001111",
        to="12345",
        text="hi",
        receipt_requested="all",
        callback_url="https://app.example.test/cb",
        callback_http_method="get",
        callback_timeout="2000",
        fallback_url="https://app.example.test/fb",
        tag="otp-17",
        skipMMSCarrierValidation=True,
        customField=None,
    )
    body = server.requests[0].json()
    assert body["to"] == "12345"
    assert body["receiptRequested"] == "all"
    assert body["callbackHttpMethod"] == "get"
    assert body["callbackTimeout"] == 2000
    assert body["tag"] == "otp-17"
    assert body["skipMMSCarrierValidation"] is True
    assert body["customField"] is None


def test_send_mms(server: ScriptedServer, api: Client) -> None:
    server.add(created(), created())
    api.send_message("+15550001111", "+15550002222", media="https://h/a.jpg")
    api.send_message("+15550001111", "+15550002222", media=("https://h/a.jpg", "https://h/b.png"))
    assert server.requests[0].json()["media"] == "https://h/a.jpg"
    assert server.requests[1].json()["media"] == ["https://h/a.jpg", "https://h/b.png"]


def test_each_send_has_its_own_idempotency_key(server: ScriptedServer, api: Client) -> None:
    server.add(created(), created())
    api.send_message("+15550001111", "+15550002222", "a")
    api.send_message("+15550001111", "+15550002222", "a")
    keys = {request.headers["idempotency-key"] for request in server.requests}
    assert len(keys) == 2


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://sms.example.test/v1/users/u/messages/m-x3q5", "m-x3q5"),
        ("/v1/users/u/messages/m-rel", "m-rel"),
        ("https://h/v1/users/u/messages/m-q?x=1", "m-q"),
        ("https://h/v1/users/u/messages/m-slash/", "m-slash"),
        ("m-bare", "m-bare"),
    ],
)
def test_id_is_taken_from_location(
    server: ScriptedServer, api: Client, location: str, expected: str
) -> None:
    server.add(Reply(201, b"", {"Location": location}))
    assert api.send_message("+15550001111", "+15550002222", "x") == expected


def test_missing_location_is_an_unexpected_response(server: ScriptedServer, api: Client) -> None:
    server.add(Reply(201, b"{}", {"Content-Type": "application/json"}))
    with pytest.raises(trebuchet.UnexpectedResponseError, match="Location"):
        api.send_message("+15550001111", "+15550002222", "x")


# -- send_messages ---------------------------------------------------------------------------


def test_send_messages_augments_results(server: ScriptedServer, api: Client) -> None:
    error = {
        "category": "bad-request",
        "code": "blank-property",
        "message": "The 'message' resource property 'to' must contain at least one "
        "non-whitespace character",
        "details": [{"name": "propertyName", "value": "to"}],
    }
    server.add(
        json_reply(
            202,
            [
                {"result": "accepted", "location": f"https://h{MESSAGES}/m-a"},
                {"result": "error", "error": error},
            ],
        )
    )
    batch = [
        {"from": "+15550001111", "to": "+15550002222", "text": "one", "callbackUrl": None},
        {"from": "+15550001111", "to": " ", "text": "two"},
    ]
    results = api.send_messages(batch)
    assert server.requests[0].json() == batch
    assert "idempotency-key" in server.requests[0].headers
    assert results == [
        {
            "result": "accepted",
            "location": f"https://h{MESSAGES}/m-a",
            "id": "m-a",
            "message": batch[0],
        },
        {"result": "error", "error": error, "id": "", "message": batch[1]},
    ]
    assert results[0]["message"] is batch[0]


def test_bulk_results_must_be_objects(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(202, ["accepted"]))
    with pytest.raises(trebuchet.UnexpectedResponseError, match="not an object"):
        api.send_messages([{"text": "a"}])


def test_send_messages_accepts_200(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(200, [{"result": "accepted", "location": "https://h/m/m-b"}]))
    assert (
        api.send_messages([{"from": "+15550001111", "to": "+1555", "text": "x"}])[0]["id"] == "m-b"
    )


def test_short_bulk_response_is_an_unexpected_response(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(202, [{"result": "accepted", "location": "https://h/m/m-b"}]))
    with pytest.raises(trebuchet.UnexpectedResponseError):
        api.send_messages([{"text": "a"}, {"text": "b"}])


@pytest.mark.parametrize("bad", [None, "text", {"from": "+1"}, [1, 2], [{"a": 1}, "b"]])
def test_send_messages_needs_a_list_of_dicts(
    api: Client, bad: object, server: ScriptedServer
) -> None:
    with pytest.raises(ValueError, match="messages_data"):
        api.send_messages(bad)  # type: ignore[arg-type]
    assert server.requests == []


# -- list_messages ---------------------------------------------------------------------------


def page(
    server: ScriptedServer, items: list[dict[str, object]], next_url: str | None = None
) -> Reply:
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
    return json_reply(200, items, **headers)


def test_list_messages_is_a_lazy_generator(server: ScriptedServer, api: Client) -> None:
    messages = api.list_messages()
    assert isinstance(messages, types.GeneratorType)
    assert inspect.isgenerator(messages)
    assert server.requests == []
    server.add(page(server, [{"id": "m-1", "messageId": "m-1"}]))
    assert next(messages) == {"id": "m-1", "message_id": "m-1"}
    assert len(server.requests) == 1
    assert list(messages) == []


def test_list_messages_query(server: ScriptedServer, api: Client) -> None:
    server.add(page(server, []))
    list(
        api.list_messages(
            from_="+15550001111",
            to="+15550002222",
            from_date_time="2014-05-25 12:00:00",
            to_date_time="2014-05-26",
            direction="out",
            state="sent",
            delivery_state="not-delivered",
            sort_order="asc",
            size=100,
            customFilter="yes",
            ignored=None,
        )
    )
    request = server.requests[0]
    assert request.path == MESSAGES
    assert "from=%2B15550001111" in request.raw_query
    assert "fromDateTime=2014-05-25+12%3A00%3A00" in request.raw_query
    assert request.query == {
        "from": ["+15550001111"],
        "to": ["+15550002222"],
        "fromDateTime": ["2014-05-25 12:00:00"],
        "toDateTime": ["2014-05-26"],
        "direction": ["out"],
        "state": ["sent"],
        "deliveryState": ["not-delivered"],
        "sortOrder": ["asc"],
        "size": ["100"],
        "customFilter": ["yes"],
    }


def test_no_filters_means_no_query(server: ScriptedServer, api: Client) -> None:
    server.add(page(server, []))
    assert list(api.list_messages()) == []
    assert server.requests[0].target == MESSAGES


def test_list_follows_next_links(server: ScriptedServer, api: Client) -> None:
    second = f"{server.url}{MESSAGES}?size=2&sortKeyLT=b"
    third = f"{server.url}{MESSAGES}?size=2&sortKeyLT=d"
    server.add(
        page(server, [{"id": "a"}, {"id": "b"}], second),
        page(server, [{"id": "c"}, {"id": "d"}], third),
        page(server, [{"id": "e"}]),
    )
    assert [m["id"] for m in api.list_messages(size=2)] == ["a", "b", "c", "d", "e"]
    assert [r.target for r in server.requests] == [
        f"{MESSAGES}?size=2",
        f"{MESSAGES}?size=2&sortKeyLT=b",
        f"{MESSAGES}?size=2&sortKeyLT=d",
    ]
    assert all(r.headers["authorization"].startswith("Basic ") for r in server.requests)


def test_empty_page_with_a_next_link_continues(server: ScriptedServer, api: Client) -> None:
    server.add(page(server, [], f"{server.url}{MESSAGES}?c=1"), page(server, [{"id": "z"}]))
    assert [m["id"] for m in api.list_messages()] == ["z"]


@pytest.mark.parametrize(
    ("link", "expected_target"),
    [
        ("/users/u-testuser/messages?c=2", f"{MESSAGES}?c=2"),  # §9.1.2 prefix rule
        (f"{MESSAGES}?c=2", f"{MESSAGES}?c=2"),  # already carries /v1: joined to the host
        ("messages?c=2", "/v1/users/u-testuser/messages?c=2"),  # relative to the page
    ],
)
def test_relative_next_links(
    server: ScriptedServer, api: Client, link: str, expected_target: str
) -> None:
    server.add(
        json_reply(200, [{"id": "a"}], Link=f'<{link}>; rel="next"'),
        page(server, [{"id": "b"}]),
    )
    assert [m["id"] for m in api.list_messages()] == ["a", "b"]
    assert server.requests[1].target == expected_target


def test_a_link_loop_is_an_error_not_an_endless_iteration(
    server: ScriptedServer, api: Client
) -> None:
    again = f"{server.url}{MESSAGES}?c=1"
    server.add(page(server, [{"id": "a"}], again), page(server, [{"id": "b"}], again))
    messages = api.list_messages()
    assert [next(messages)["id"], next(messages)["id"]] == ["a", "b"]
    with pytest.raises(trebuchet.UnexpectedResponseError, match="already read"):
        next(messages)


def test_a_page_that_is_not_a_list(server: ScriptedServer, api: Client) -> None:
    server.add(json_reply(200, {"messages": []}))
    with pytest.raises(trebuchet.UnexpectedResponseError):
        list(api.list_messages())


def test_list_errors_surface_on_iteration(server: ScriptedServer, api: Client) -> None:
    server.add(
        json_reply(401, {"category": "authorization", "code": "access-denied", "message": "no"})
    )
    messages = api.list_messages()
    with pytest.raises(trebuchet.AuthenticationError):
        next(messages)


# -- lifecycle ------------------------------------------------------------------------------


def test_close_closes_our_pool() -> None:
    api = Client(*CREDS)
    api.close()
    assert api._http.is_closed


def test_a_callers_http_client_is_used_and_left_open(server: ScriptedServer) -> None:
    server.add(json_reply(200, {"id": "m-1"}))
    with httpx.Client(headers={"X-From-Caller": "1"}) as http:
        with Client(*CREDS, api_endpoint=server.url, http_client=http) as api:
            api.get_message("m-1")
        assert not http.is_closed
    assert server.requests[0].headers["x-from-caller"] == "1"


def test_transport_option(server: ScriptedServer) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messageId": "m-9"})

    with Client(*CREDS, transport=httpx.MockTransport(handler)) as api:
        assert api.get_message("m-9") == {"message_id": "m-9"}
    assert str(seen[0].url) == "http://127.0.0.1:8080/v1/users/u-testuser/messages/m-9"


def test_timeout_option_applies_to_a_callers_client(server: ScriptedServer) -> None:
    server.add(Reply(200, b"[]", {"Content-Type": "application/json"}, delay=1.0))
    with (
        httpx.Client() as http,
        Client(
            *CREDS, api_endpoint=server.url, http_client=http, timeout=0.1, max_retries=0
        ) as api,
        pytest.raises(trebuchet.APITimeoutError),
    ):
        list(api.list_messages())
