"""The ``bandwidth`` carrier against a fake Bandwidth held to Bandwidth's Messaging v2
OpenAPI document, with callbacks built by ``bandwidth-sdk``'s models."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.carriers.providers.conftest import BANDWIDTH, FROM, OTHER, Setup, wait_for
from tests.carriers.providers.fakes import PNG, AppReceiver, FakeBandwidth, garbage, status
from trebuchet.server.carriers import upstream_events

CALLBACK_AUTH = (BANDWIDTH["callback_username"], BANDWIDTH["callback_password"])


def _post(setup: Setup, events: list[Any], auth: Any = CALLBACK_AUTH) -> httpx.Response:
    fake: FakeBandwidth = setup.fake
    return fake.post_events(setup.events_url, events, auth)


def _id(setup: Setup) -> str:
    return str(wait_for(lambda: list(setup.fake.sent))[-1])


def test_an_sms_is_sent_as_bandwidth_documents_it_and_its_receipt_comes_back(
    bandwidth: Setup,
) -> None:
    message_id = bandwidth.send(text="hello bandwidth", receiptRequested="all",
                                callbackUrl="http://127.0.0.1:9/events")  # fmt: skip
    bandwidth.settled(message_id, lambda m: m["state"] == "sent")
    [request] = bandwidth.fake.seen
    body = request.parsed
    assert (body["to"], body["from"], body["text"]) == ([OTHER], FROM, "hello bandwidth")
    assert (body["applicationId"], body["tag"]) == (BANDWIDTH["application_id"], message_id)
    ref = _id(bandwidth)

    fake: FakeBandwidth = bandwidth.fake
    answer = _post(bandwidth, [fake.status_event(ref, "message-sending"),
                               fake.status_event(ref, "message-delivered")])  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"done": ["ignored", "receipt"]}
    done = bandwidth.settled(message_id, lambda m: m.get("deliveryState") == "delivered")
    assert done["deliveryCode"] == 0
    receipts = bandwidth.receipt_events(message_id)
    assert len(receipts) == 1

    # A repeated callback stores nothing new.
    again = _post(bandwidth, [fake.status_event(ref, "message-delivered")])
    assert again.json() == {"done": ["ignored"]}
    assert bandwidth.receipt_events(message_id) == receipts


@pytest.mark.parametrize(
    ("error_code", "delivery_code"),
    [(4720, 720), (4775, 775), (4470, 770), (5620, 620), (9902, 902)],
)
def test_a_failed_callback_carries_the_code_bandwidth_gave(
    bandwidth: Setup, error_code: int, delivery_code: int
) -> None:
    message_id = bandwidth.send(text="x", receiptRequested="error")
    bandwidth.settled(message_id, lambda m: m["state"] == "sent")
    fake: FakeBandwidth = bandwidth.fake
    assert _post(bandwidth, [fake.status_event(_id(bandwidth), "message-failed", error_code)])
    done = bandwidth.settled(message_id, lambda m: m.get("deliveryState") == "not-delivered")
    assert done["deliveryCode"] == delivery_code


def test_an_mms_hands_bandwidth_a_signed_link_to_our_media(bandwidth: Setup) -> None:
    with bandwidth.client() as http:
        put = http.put(f"/v1/users/{bandwidth.user.user_id}/media/cat.png", content=PNG,
                       headers={"Content-Type": "image/png"})  # fmt: skip
        assert put.status_code == 200, put.text
    own = f"{bandwidth.live.base_url}/v1/users/{bandwidth.user.user_id}/media/cat.png"
    message_id = bandwidth.send(text="pics", media=[own])
    bandwidth.settled(message_id, lambda m: m["state"] == "sent")
    [link] = bandwidth.fake.seen[-1].parsed["media"]
    assert link.startswith(f"{bandwidth.live.base_url}/v1/media-links/")
    assert httpx.get(link).content == PNG


@pytest.mark.parametrize(
    ("http_status", "document", "delivery_code"),
    [
        (400, {"type": "request-validation", "description": "'to' is invalid",
               "fieldErrors": [{"fieldName": "to", "description": "not a number"}]}, 720),
        (400, {"type": "request-validation", "description": "blocked"}, 750),
        (403, {"type": "forbidden", "description": "not your application"}, 620),
    ],
)  # fmt: skip
def test_a_refusal_is_final_with_the_code_and_bandwidths_words(
    bandwidth: Setup, http_status: int, document: dict[str, Any], delivery_code: int
) -> None:
    bandwidth.fake.script.append(status(http_status, document))
    message_id = bandwidth.send(text="x", receiptRequested="error")
    failed = bandwidth.settled(message_id, lambda m: m["state"] == "error")
    assert (failed["deliveryState"], failed["deliveryCode"]) == ("not-delivered", delivery_code)
    with bandwidth.client() as http:
        errors = http.get(f"/v1/users/{bandwidth.user.user_id}/errors").json()
    assert any(document["description"] in str(error.get("details")) for error in errors)
    assert len(bandwidth.fake.seen) == 1


def test_rate_limits_server_errors_and_garbage_are_retried(bandwidth: Setup) -> None:
    bandwidth.fake.script += [
        status(429, {"type": "too-many-requests", "description": "slow down"},
               {"Retry-After": "0"}),
        status(500, {"type": "internal", "description": "oops"}),
        garbage(202),
    ]  # fmt: skip
    message_id = bandwidth.send(text="eventually")
    bandwidth.settled(message_id, lambda m: m["state"] == "sent")
    assert len(bandwidth.fake.seen) == 4


def test_callbacks_without_the_application_credentials_are_refused(bandwidth: Setup) -> None:
    fake: FakeBandwidth = bandwidth.fake
    events = [fake.inbound_event(OTHER, FROM, "forged")]
    assert _post(bandwidth, events, auth=None).status_code == 401
    assert _post(bandwidth, events, auth=("cb-user", "wrong")).status_code == 401
    assert _post(bandwidth, events, auth=(BANDWIDTH["username"], BANDWIDTH["password"])
                 ).status_code == 401  # fmt: skip
    assert bandwidth.inbound() == []


def test_an_inbound_mms_reaches_the_users_application_with_its_media_in_our_store(
    bandwidth: Setup,
) -> None:
    fake: FakeBandwidth = bandwidth.fake
    event = fake.inbound_event(OTHER, FROM, "a picture", media=1)
    with AppReceiver() as receiver:
        bandwidth.application(f"{receiver.base_url}/incoming")
        answer = _post(bandwidth, [event])
        assert answer.json() == {"done": ["inbound"]}
        [heard] = wait_for(lambda: receiver.posts)
    assert (heard["direction"], heard["from"], heard["text"]) == ("in", OTHER, "a picture")
    [message] = wait_for(bandwidth.inbound)
    assert heard["messageId"] == message["id"]
    assert (message["from"], message["to"], message["text"]) == (OTHER, FROM, "a picture")
    [url] = message["media"]
    assert url.startswith(f"{bandwidth.live.base_url}/v1/users/{bandwidth.user.user_id}/media/")
    with bandwidth.client() as http:
        assert http.get(url).content == PNG
    # Bandwidth's media URL was fetched with the API credentials (the fake refuses others),
    # as the document's getMedia describes it.
    assert any("/media/" in seen.path and seen.method == "GET" for seen in fake.seen)

    assert _post(bandwidth, [event]).status_code == 200  # a repeat stores nothing new
    assert len(bandwidth.inbound()) == 1


def test_an_inbound_message_to_a_number_nobody_owns_does_not_stop_the_rest(
    bandwidth: Setup,
) -> None:
    fake: FakeBandwidth = bandwidth.fake
    events = [fake.inbound_event(OTHER, "+15550009999", "nobody"),
              fake.inbound_event(OTHER, FROM, "somebody")]  # fmt: skip
    assert _post(bandwidth, events).json() == {"done": ["unknown-number", "inbound"]}
    assert [m["text"] for m in wait_for(bandwidth.inbound)] == ["somebody"]


def test_a_callback_for_a_message_we_never_sent_is_ignored_and_garbage_refused(
    bandwidth: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_events, "REF_WAIT_SECONDS", 0.2)
    fake: FakeBandwidth = bandwidth.fake
    fake.sent["never-ours"] = {"to": [OTHER], "owner": FROM, "from": FROM, "text": "",
                               "tag": "", "media": []}  # fmt: skip
    answer = _post(bandwidth, [fake.status_event("never-ours", "message-delivered")])
    assert answer.json() == {"done": ["ignored"]}
    garbled = httpx.post(bandwidth.events_url, content=b"[{not json", auth=CALLBACK_AUTH)
    assert garbled.status_code == 400
    assert httpx.post(bandwidth.events_url, json=[1, 2], auth=CALLBACK_AUTH).status_code == 400


def test_a_delivery_report_faster_than_our_own_sent_still_comes_after_it(
    bandwidth: Setup,
) -> None:
    fake: FakeBandwidth = bandwidth.fake
    fake.callback_url, fake.callback_auth = bandwidth.events_url, CALLBACK_AUTH
    fake.early_status = "message-delivered"
    message_id = bandwidth.send(text="quick", receiptRequested="all",
                                callbackUrl="http://127.0.0.1:9/events")  # fmt: skip
    done = bandwidth.settled(message_id, lambda m: m.get("deliveryState") == "delivered")
    assert done["state"] == "sent"
    assert wait_for(lambda: fake.early_answers) == [200]
    states = [(e["payload"]["state"], e["payload"].get("deliveryState")) for e in
              bandwidth.events(message_id)]  # fmt: skip
    assert states.index(("sent", None)) < states.index(("sent", "delivered"))
