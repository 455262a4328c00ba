"""The Catapult-era clients against the real server, each doing what applications do.

Every test runs once with the Python ``bandwidth-sdk`` 3.x and once with ``node-bandwidth``
(tests/compat/conftest.py), and checks both what the client handed back and what the
store holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.compat.conftest import ADMIN_TOKEN, OldClient, api, wait_for
from tests.conftest import LiveServer

A, B, C = "+15550100001", "+15550100002", "+15550100003"
OUTSIDE, OTHER = "+15557654321", "+15557654322"  # numbers nobody on the platform owns


def test_send_one_sms_and_read_its_id_from_location(
    server: LiveServer, old_client: OldClient
) -> None:
    user = server.create_user([A])
    sent = old_client.run(server, user, "send", {"from": A, "to": OUTSIDE, "text": "Hello"})
    assert sent["id"].startswith("m-")
    row = wait_for(server, user, sent["id"], state="sent")
    assert (row.from_number, row.to_number, row.text, row.direction) == (
        A,
        OUTSIDE,
        "Hello",
        "out",
    )
    assert json.loads(row.media or "[]") == []


def test_send_an_mms_with_a_media_url(server: LiveServer, old_client: OldClient) -> None:
    user = server.create_user([A])
    with api(server, user) as http:
        put = http.put("/media/cat.png", content=b"\x89PNG\r\n\x1a\n" + bytes(64),
                       headers={"Content-Type": "image/png"})  # fmt: skip
        assert put.status_code == 200, put.text
    url = f"{server.base_url}/v1/users/{user.user_id}/media/cat.png"
    sent = old_client.run(
        server, user, "send", {"from": A, "to": OUTSIDE, "text": "a cat", "media": [url]}
    )
    row = wait_for(server, user, sent["id"], state="sent")
    assert json.loads(row.media) == [url]
    assert row.text == "a cat"


def test_bulk_send_reports_each_item_and_stores_only_the_good_ones(
    server: LiveServer, old_client: OldClient
) -> None:
    user = server.create_user([A])
    items = [
        {"from": A, "to": OUTSIDE, "text": "first"},
        {"from": C, "to": OUTSIDE, "text": "not my number"},
        {"from": A, "to": OTHER, "text": "third"},
    ]
    results = old_client.run(server, user, "bulk", {"messages": items})["results"]
    # The wire says "error"; the Node client renames it "failed" on its side.
    failed = {"python": "error", "node": "failed"}[old_client.name]
    assert [r["result"] for r in results] == ["accepted", failed, "accepted"]
    bad = results[1]
    assert bad["id"] is None
    assert bad["error"]["category"] == "authorization"
    assert bad["error"]["code"] == "number-access-denied"
    assert C in bad["error"]["message"]
    assert bad["message"]["text"] == "not my number"
    for item, result in zip(items, results, strict=True):
        if result["result"] == "accepted":
            row = wait_for(server, user, result["id"], state="sent")
            assert (row.to_number, row.text) == (item["to"], item["text"])
    with api(server, user) as http:
        assert sorted(m["text"] for m in http.get("/messages").json()) == ["first", "third"]


def test_get_a_message(server: LiveServer, old_client: OldClient) -> None:
    user = server.create_user([A])
    with api(server, user) as http:
        sent = http.post(
            "/messages",
            json={"from": A, "to": OUTSIDE, "text": "read me", "tag": "t-1",
                  "receiptRequested": "all"},
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    wait_for(server, user, message_id, delivery_state="delivered")
    message = old_client.run(server, user, "get", {"id": message_id})["message"]
    k = old_client.key
    assert message["id"] == message_id
    assert (message["from"], message["to"], message["text"]) == (A, OUTSIDE, "read me")
    assert (message["direction"], message["state"], message["tag"]) == ("out", "sent", "t-1")
    assert message[k("deliveryState")] == "delivered"
    assert message[k("deliveryCode")] == 0
    assert message[k("receiptRequested")] == "all"
    assert message["time"].endswith("Z")


def test_list_with_filters_follows_the_link_header_to_the_end(
    server: LiveServer, old_client: OldClient
) -> None:
    user = server.create_user([A, C])
    with api(server, user) as http:
        mine = [{"from": A, "to": OUTSIDE, "text": f"A{i}"} for i in range(7)]
        others = [{"from": C, "to": OUTSIDE, "text": f"C{i}"} for i in range(3)]
        others.append({"from": A, "to": OTHER, "text": "A to another"})
        sent = http.post("/messages", json=mine + others)
        assert sent.status_code == 202, sent.text
        assert all(r["result"] == "accepted" for r in sent.json())
        expected = [
            m["id"]
            for m in http.get(
                "/messages", params={"from": A, "to": OUTSIDE, "sortOrder": "desc", "size": 1000}
            ).json()
        ]
    assert len(expected) == 7
    listed = old_client.run(
        server,
        user,
        "list",
        {"from": A, "to": OUTSIDE, "direction": "out", "sortOrder": "desc", "size": 2,
         "fromDateTime": "2000-01-01 00:00:00"},
    )  # fmt: skip
    assert [m["id"] for m in listed["messages"]] == expected
    assert {m["text"] for m in listed["messages"]} == {f"A{i}" for i in range(7)}
    assert listed["pages"] == 4  # 2 + 2 + 2 + 1, each page asked for by the client itself


def test_an_unknown_message_is_the_clients_own_error_with_the_servers_text(
    server: LiveServer, old_client: OldClient
) -> None:
    user = server.create_user([A])
    with api(server, user) as http:
        answer = http.get("/messages/m-doesnotexist")
    assert answer.status_code == 404
    error = old_client.run(server, user, "unknown", {"id": "m-doesnotexist"})
    expected_type = {"python": "BandwidthMessageAPIException", "node": "UnexpectedResponseError"}
    assert error["error"] == expected_type[old_client.name]
    assert error["status"] == 404
    assert error["message"] == answer.json()["message"]
    assert "m-doesnotexist" in error["message"]
    if old_client.name == "python":
        assert error["code"] == answer.json()["code"]


def test_bad_credentials_are_a_401_the_client_handles(
    server: LiveServer, old_client: OldClient
) -> None:
    user = server.create_user([A])
    answer = httpx.get(
        f"{server.base_url}/v1/users/{user.user_id}/messages", auth=(user.api_token, "wrong")
    )
    assert answer.status_code == 401
    error = old_client.run(server, user, "bad_credentials", {"secret": "wrong"})
    expected_type = {"python": "BandwidthMessageAPIException", "node": "UnexpectedResponseError"}
    assert error["error"] == expected_type[old_client.name]
    assert error["status"] == 401
    assert error["message"] == answer.json()["message"]


def _newer_messages(server: LiveServer) -> tuple[Any, dict[str, str]]:
    """A user with messages only newer clients make: scheduled, canceled, sent with its
    carrier, and an inbound keyword with its auto-reply.  Their ids by kind."""
    user = server.create_user([A, B])
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids: dict[str, str] = {}
    with api(server, user) as http:
        for kind, body in (
            ("scheduled", {"from": A, "to": OUTSIDE, "text": "later", "sendAt": later}),
            ("canceled", {"from": A, "to": OUTSIDE, "text": "never", "sendAt": later}),
            ("sent", {"from": A, "to": OUTSIDE, "text": "now"}),
        ):
            answer = http.post("/messages", json=body)
            assert answer.status_code == 201, answer.text
            ids[kind] = answer.headers["location"].rsplit("/", 1)[1]
        canceled = http.post(f"/messages/{ids['canceled']}/cancel")
        assert canceled.status_code == 200, canceled.text
    inbound = httpx.post(
        f"{server.base_url}/v1/admin/inbound",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"from": OUTSIDE, "to": B, "text": "STOP"},
    )
    assert inbound.status_code == 201, inbound.text
    ids["keyword"] = inbound.json()["messageId"]
    wait_for(server, user, ids["scheduled"], state="scheduled")
    wait_for(server, user, ids["canceled"], state="canceled")
    wait_for(server, user, ids["sent"], state="sent", carrier="sandbox")
    wait_for(server, user, ids["keyword"], state="received", keyword="stop")
    return user, ids


def test_messages_in_newer_states_do_not_break_the_old_clients(
    server: LiveServer, old_client: OldClient
) -> None:
    user, ids = _newer_messages(server)
    k = old_client.key
    fetched = {kind: old_client.run(server, user, "get", {"id": i})["message"]
               for kind, i in ids.items()}  # fmt: skip
    assert fetched["scheduled"]["state"] == "scheduled"
    assert fetched["scheduled"][k("sendAt")].endswith("Z")
    assert fetched["canceled"]["state"] == "canceled"
    assert fetched["sent"]["state"] == "sent"
    assert fetched["sent"]["carrier"] == "sandbox"
    assert "carrier" not in fetched["scheduled"]
    assert (fetched["keyword"]["direction"], fetched["keyword"]["state"]) == ("in", "received")
    assert fetched["keyword"]["keyword"] == "stop"
    assert fetched["keyword"]["text"] == "STOP"

    listed = old_client.run(server, user, "list", {"size": 2})
    by_id = {m["id"]: m for m in listed["messages"]}
    assert set(ids.values()) <= set(by_id)
    for kind, message_id in ids.items():
        assert by_id[message_id] == fetched[kind], kind
    # The keyword's auto-reply is a message too, carrying the same mark.
    replies = [m for m in listed["messages"] if m["direction"] == "out" and m.get("keyword")]
    assert [m["keyword"] for m in replies] == ["stop"]
    assert listed["pages"] >= 3


def test_the_rate_limit_is_the_clients_own_error(
    limited_server: LiveServer, old_client: OldClient
) -> None:
    user = limited_server.create_user([A])
    error = old_client.run(limited_server, user, "rate_limited")
    assert error["status"] == 429
    if old_client.name == "node":
        # node-bandwidth raises its RateLimitError only when X-RateLimit-Reset is there.
        assert error["error"] == "RateLimitError"
        assert int(error["limitReset"]) > 0
    else:
        assert error["error"] == "BandwidthMessageAPIException"
        assert error["code"] == "rate-limit-reached"
