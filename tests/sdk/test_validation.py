"""Client-side validation: ``ValueError`` before any request is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from trebuchet import Client

from .conftest import CREDS, ScriptedServer, json_reply


@pytest.fixture
def api(server: ScriptedServer) -> Iterator[Client]:
    with Client(*CREDS, api_endpoint=server.url, max_retries=0) as client:
        yield client


def query_of(api: Client, server: ScriptedServer, **filters: Any) -> dict[str, list[str]]:
    server.add(json_reply(200, []))
    list(api.list_messages(**filters))
    return server.requests[-1].query


@pytest.mark.parametrize(
    "filters",
    [
        {"direction": "inbound"},
        {"direction": "IN"},
        {"state": "delivered"},
        {"state": "failed"},
        {"delivery_state": "sent"},
        {"delivery_state": "not_delivered"},
        {"sort_order": "ascending"},
        {"size": 0},
        {"size": 1001},
        {"size": -1},
        {"size": "ten"},
        {"size": 2.5},
        {"size": True},
        {"from_": "15550001111"},
        {"from_": "+05550001111"},
        {"from_": "+1234567890123456"},
        {"from_": "1234"},
        {"to": "1234"},
        {"to": "1234567"},
        {"to": "+1 555 000 1111"},
        {"from_date_time": "2014-05"},
        {"from_date_time": "2014-13-01"},
        {"from_date_time": "2014-02-30 00:00:00"},
        {"from_date_time": "2014-05-25 25:00"},
        {"from_date_time": "2014-05-25 12:00:00.1"},
        {"from_date_time": "2014-05-25 12:00:00.1234"},
        {"to_date_time": "25/05/2014"},
        {"to_date_time": "2014-05-25T"},
        {"to_date_time": "2014-02-30T10:00Z"},
        {"to_date_time": "2014-05-25T24:00:00Z"},
        {"to_date_time": 1400000000},
        {"to_date_time": "yesterday"},
    ],
)
def test_invalid_filters(api: Client, server: ScriptedServer, filters: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|not a valid"):
        api.list_messages(**filters)
    assert server.requests == []


@pytest.mark.parametrize("size", [1, 25, 1000, "50"])
def test_valid_sizes(api: Client, server: ScriptedServer, size: int | str) -> None:
    assert query_of(api, server, size=size)["size"] == [str(int(size))]


@pytest.mark.parametrize(
    "value",
    [
        "2014-05-25",
        "2014-05-25 12",
        "2014-05-25 12:30",
        "2014-05-25 12:30:45",
        "2014-05-25 12:30:45.123",
    ],
)
def test_catapult_date_forms_are_sent_unchanged(
    api: Client, server: ScriptedServer, value: str
) -> None:
    assert query_of(api, server, from_date_time=value)["fromDateTime"] == [value]


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("2012-10-05T20:38:11.023Z", "2012-10-05 20:38:11.023"),
        ("2012-10-05T20:38:11Z", "2012-10-05 20:38:11.000"),
        ("2012-10-05T20:38Z", "2012-10-05 20:38:00.000"),
        ("2012-10-05T20:38:11.023456Z", "2012-10-05 20:38:11.023"),
        ("2012-10-05T22:38:11+02:00", "2012-10-05 20:38:11.000"),
        ("2012-10-05T20:38:11", "2012-10-05 20:38:11.000"),
    ],
)
def test_iso_strings_become_utc(api: Client, server: ScriptedServer, value: str, sent: str) -> None:
    assert query_of(api, server, to_date_time=value)["toDateTime"] == [sent]


def test_datetime_objects(api: Client, server: ScriptedServer) -> None:
    aware = dt.datetime(2014, 5, 25, 14, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2014, 5, 25, 12, 0, 1)
    query = query_of(api, server, from_date_time=aware, to_date_time=naive)
    assert query["fromDateTime"] == ["2014-05-25 12:00:00.123"]
    assert query["toDateTime"] == ["2014-05-25 12:00:01.000"]
    assert query_of(api, server, from_date_time=dt.date(2014, 5, 25))["fromDateTime"] == [
        "2014-05-25"
    ]


@pytest.mark.parametrize("direction", ["in", "out"])
@pytest.mark.parametrize("state", ["received", "queued", "sending", "sent", "error"])
def test_every_state_and_direction(
    api: Client, server: ScriptedServer, direction: str, state: str
) -> None:
    query = query_of(api, server, direction=direction, state=state)
    assert (query["direction"], query["state"]) == ([direction], [state])


@pytest.mark.parametrize("delivery_state", ["waiting", "delivered", "not-delivered"])
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_every_delivery_state_and_order(
    api: Client, server: ScriptedServer, delivery_state: str, sort_order: str
) -> None:
    query = query_of(api, server, delivery_state=delivery_state, sort_order=sort_order)
    assert query["deliveryState"] == [delivery_state]
    assert query["sortOrder"] == [sort_order]


def test_short_codes_are_accepted_as_list_filters(api: Client, server: ScriptedServer) -> None:
    assert query_of(api, server, to="12345")["to"] == ["12345"]
    assert query_of(api, server, to="123456")["to"] == ["123456"]
    assert query_of(api, server, from_="12345")["from"] == ["12345"]


GOOD = {"from_": "+15550001111", "to": "+15550002222", "text": "hi"}


@pytest.mark.parametrize(
    "changes",
    [
        {"from_": "15550001111"},
        {"from_": "12345"},
        {"from_": None},
        {"to": None},
        {"to": "+1555-000"},
        {"to": ["+15550002222"]},
        {"receipt_requested": "yes"},
        {"receipt_requested": "ALL"},
        {"callback_http_method": "PUT"},
        {"callback_http_method": "posts"},
        {"callback_timeout": 0},
        {"callback_timeout": 10001},
        {"callback_timeout": "soon"},
        {"media": ["https://h/a.jpg"], "receipt_requested": "all"},
        {"media": ["https://h/a.jpg"], "receipt_requested": "error"},
        {"media": [1, 2]},
        {"media": b"https://h/a.jpg"},
    ],
)
def test_invalid_sends(api: Client, server: ScriptedServer, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|required|cannot"):
        api.send_message(**{**GOOD, **changes})
    assert server.requests == []


@pytest.mark.parametrize("method", ["GET", "POST", "get", "post", "Post"])
def test_callback_methods_in_any_case(api: Client, server: ScriptedServer, method: str) -> None:
    server.add(json_reply(201, {}, Location="https://h/m/m-1"))
    api.send_message(**GOOD, callback_http_method=method)
    assert server.requests[0].json()["callbackHttpMethod"] == method


@pytest.mark.parametrize("timeout", [1, 10000, "2000"])
def test_callback_timeouts(api: Client, server: ScriptedServer, timeout: int | str) -> None:
    server.add(json_reply(201, {}, Location="https://h/m/m-1"))
    api.send_message(**GOOD, callback_timeout=timeout)
    assert server.requests[0].json()["callbackTimeout"] == int(timeout)


def test_media_without_receipts_is_fine(api: Client, server: ScriptedServer) -> None:
    server.add(json_reply(201, {}, Location="https://h/m/m-1"))
    api.send_message(
        "+15550001111", "+15550002222", media=["https://h/a.jpg"], receipt_requested="none"
    )
    assert server.requests[0].json()["receiptRequested"] == "none"


def test_error_messages_name_the_argument(api: Client) -> None:
    with pytest.raises(ValueError, match="delivery_state must be one of 'waiting', 'delivered'"):
        api.list_messages(delivery_state="x")
    with pytest.raises(ValueError, match=r"from_ must be an E\.164 number"):
        api.list_messages(from_="555")
    with pytest.raises(ValueError, match="size must be an integer from 1 to 1000"):
        api.list_messages(size=5000)
