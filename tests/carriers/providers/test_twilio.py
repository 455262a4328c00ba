"""The ``twilio`` carrier against a fake Twilio held to Twilio's OpenAPI document, with
callbacks signed by Twilio's own ``RequestValidator``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.carriers.providers.conftest import FROM, OTHER, Setup, wait_for
from tests.carriers.providers.fakes import (
    PNG,
    AppReceiver,
    FakeTwilio,
    garbage,
    status,
    twilio_error,
)
from trebuchet.server.carriers import upstream_events
from trebuchet.server.carriers.base import OutboundMessage
from trebuchet.server.carriers.media_links import MediaLinks


def _sid(setup: Setup) -> str:
    return str(wait_for(lambda: list(setup.fake.callbacks))[-1])


def test_an_sms_is_sent_as_twilio_documents_it_and_its_receipt_comes_back(
    twilio: Setup,
) -> None:
    # A callback URL, so the message keeps its events (receiving them is not the point).
    message_id = twilio.send(text="hello twilio", receiptRequested="all",
                             callbackUrl="http://127.0.0.1:9/events")  # fmt: skip
    sent = twilio.settled(message_id, lambda m: m["state"] == "sent")
    [request] = twilio.fake.seen
    form = request.parsed
    assert (form["To"], form["From"], form["Body"]) == (OTHER, FROM, "hello twilio")
    assert form["StatusCallback"] == twilio.events_url
    assert "MediaUrl" not in form
    assert sent["state"] == "sent"
    sid = _sid(twilio)

    for state in ("sending", "sent", "delivered"):
        answer = twilio.fake.post_form(twilio.events_url, twilio.fake.status_form(sid, state))
        assert answer.status_code == 200, answer.text
        assert "<Response>" in answer.text
    done = twilio.settled(message_id, lambda m: m.get("deliveryState") == "delivered")
    assert (done["deliveryCode"], done["deliveryDescription"]) == (
        0,
        "Message Delivered to Carrier",
    )
    receipts = twilio.receipt_events(message_id)

    # A repeated callback stores nothing new.
    twilio.fake.post_form(twilio.events_url, twilio.fake.status_form(sid, "delivered"))
    assert twilio.receipt_events(message_id) == receipts
    assert len(receipts) == 1


def test_an_undelivered_status_carries_the_code_twilio_gave(twilio: Setup) -> None:
    message_id = twilio.send(text="x", receiptRequested="error")
    twilio.settled(message_id, lambda m: m["state"] == "sent")
    form = twilio.fake.status_form(_sid(twilio), "undelivered", 30007)
    assert twilio.fake.post_form(twilio.events_url, form).status_code == 200
    done = twilio.settled(message_id, lambda m: m.get("deliveryState") == "not-delivered")
    assert (done["deliveryCode"], done["deliveryDescription"]) == (
        770,
        "Destination Rejected due to spam",
    )


def test_an_mms_hands_twilio_a_signed_link_to_our_media_and_external_urls_as_they_are(
    twilio: Setup,
) -> None:
    with twilio.client() as http:
        put = http.put(f"/v1/users/{twilio.user.user_id}/media/cat.png", content=PNG,
                       headers={"Content-Type": "image/png"})  # fmt: skip
        assert put.status_code == 200, put.text
    own = f"{twilio.live.base_url}/v1/users/{twilio.user.user_id}/media/cat.png"
    external = "https://media.example.org/dog.png"
    message_id = twilio.send(text="pics", media=[own])
    twilio.settled(message_id, lambda m: m["state"] == "sent")
    [link] = twilio.fake.seen[-1].parsed["MediaUrl"]
    assert link.startswith(f"{twilio.live.base_url}/v1/media-links/{twilio.user.user_id}/cat.png?")
    fetched = httpx.get(link)  # what Twilio does, with no credentials
    assert (fetched.status_code, fetched.content) == (200, PNG)
    assert fetched.headers["content-type"] == "image/png"
    tampered = link.replace("cat.png", "cat2.png")
    assert httpx.get(tampered).status_code == 404
    assert httpx.get(link.rsplit("&signature=", 1)[0] + "&signature=00").status_code == 404

    links = MediaLinks(twilio.live.store, "https://public.example.net")
    message = OutboundMessage("m-1", twilio.user.user_id, FROM, OTHER, "", [external, own], 1, 1)
    public = twilio.live.run(links.public(message))
    assert public[0] == external
    assert public[1].startswith("https://public.example.net/v1/media-links/")


@pytest.mark.parametrize(
    ("code", "http_status", "delivery_code"),
    [(21211, 400, 720), (21610, 400, 775), (30004, 400, 750), (21606, 400, 740)],
)
def test_a_refusal_is_final_with_the_code_and_twilios_words(
    twilio: Setup, code: int, http_status: int, delivery_code: int
) -> None:
    said = f"Twilio says no ({code})"
    twilio.fake.script.append(status(http_status, twilio_error(code, said, http_status)))
    message_id = twilio.send(text="x", receiptRequested="error")
    failed = twilio.settled(message_id, lambda m: m["state"] == "error")
    assert (failed["deliveryState"], failed["deliveryCode"]) == ("not-delivered", delivery_code)
    with twilio.client() as http:
        errors = http.get(f"/v1/users/{twilio.user.user_id}/errors").json()
    assert any(said in str(error.get("details")) for error in errors)
    assert len(twilio.fake.seen) == 1  # never retried


def test_rate_limits_server_errors_and_garbage_are_retried(twilio: Setup) -> None:
    twilio.fake.script += [
        status(429, twilio_error(20429, "Too Many Requests", 429), {"Retry-After": "0"}),
        status(503, {"message": "unavailable"}),
        garbage(200),
    ]
    message_id = twilio.send(text="eventually")
    sent = twilio.settled(message_id, lambda m: m["state"] == "sent")
    assert sent["state"] == "sent"
    assert len(twilio.fake.seen) == 4


def _signed(setup: Setup, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    fake: FakeTwilio = setup.fake
    return fake.post_form(setup.events_url, form, **kwargs)


def test_unsigned_and_wrongly_signed_callbacks_are_refused(twilio: Setup) -> None:
    form = twilio.fake.inbound_form(OTHER, FROM, "forged")
    assert _signed(twilio, form, signature="").status_code == 401
    assert _signed(twilio, form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 401
    signed_elsewhere = "https://other.example.com/v1/carriers/tw/events"
    assert _signed(twilio, form, signed_url=signed_elsewhere).status_code == 401
    changed = {**form, "Body": "changed after signing"}
    signature = twilio.fake.sign(twilio.events_url, form)
    assert _signed(twilio, changed, signature=signature).status_code == 401
    assert twilio.inbound() == []


def test_an_inbound_mms_reaches_the_users_application_with_its_media_in_our_store(
    twilio: Setup,
) -> None:
    with AppReceiver() as receiver:
        twilio.application(f"{receiver.base_url}/incoming")
        form = twilio.fake.inbound_form(OTHER, FROM, "a picture", media=1)
        answer = _signed(twilio, form)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/xml")
        [heard] = wait_for(lambda: receiver.posts)
    assert (heard["direction"], heard["from"], heard["text"]) == ("in", OTHER, "a picture")
    [message] = wait_for(twilio.inbound)
    assert heard["messageId"] == message["id"]
    assert (message["from"], message["to"], message["text"]) == (OTHER, FROM, "a picture")
    [url] = message["media"]
    assert url.startswith(f"{twilio.live.base_url}/v1/users/{twilio.user.user_id}/media/")
    with twilio.client() as http:
        assert http.get(url).content == PNG
    # The provider's media URL was fetched with the account's credentials.
    assert any(seen.path.endswith("/Media/ME" + "0" * 32) for seen in twilio.fake.seen)

    assert _signed(twilio, form).status_code == 200  # a repeat stores nothing new
    assert len(twilio.inbound()) == 1


def test_an_inbound_message_to_a_number_nobody_owns_is_404(twilio: Setup) -> None:
    form = twilio.fake.inbound_form(OTHER, "+15550009999", "nobody")
    assert _signed(twilio, form).status_code == 404


def test_a_callback_for_a_message_we_never_sent_is_ignored(
    twilio: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_events, "REF_WAIT_SECONDS", 0.2)
    form = twilio.fake.status_form("SM" + "f" * 32, "delivered")
    assert _signed(twilio, form).status_code == 200


def test_signatures_cover_the_public_url_behind_a_proxy(
    tmp_path: Any, fake_twilio: FakeTwilio
) -> None:
    from tests.carriers.providers.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN, _start

    public = "https://sms.example.com/hooks/twilio"
    carrier = {"type": "twilio", "account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN,
               "url": fake_twilio.base_url, "events_url": public}  # fmt: skip
    for setup in _start(tmp_path, "tw", carrier, fake_twilio):
        form = fake_twilio.inbound_form(OTHER, FROM, "through the proxy")
        # Signed for the URL Twilio called, received at the one the proxy forwards to.
        assert _signed(setup, form, signed_url=public).status_code == 200
        assert _signed(setup, form, signed_url=public + "x").status_code == 401
        # As Twilio's library allows, the default port may be written or not.
        with_port = "https://sms.example.com:443/hooks/twilio"
        assert _signed(setup, form, signed_url=with_port).status_code == 200
        assert len(wait_for(setup.inbound)) == 1
        message_id = setup.send(text="x")
        setup.settled(message_id, lambda m: m["state"] == "sent")
        assert fake_twilio.seen[-1].parsed["StatusCallback"] == public


def test_a_delivery_report_faster_than_our_own_sent_still_comes_after_it(twilio: Setup) -> None:
    twilio.fake.early_status = "delivered"
    message_id = twilio.send(text="quick", receiptRequested="all",
                             callbackUrl="http://127.0.0.1:9/events")  # fmt: skip
    done = twilio.settled(message_id, lambda m: m.get("deliveryState") == "delivered")
    assert done["state"] == "sent"
    assert wait_for(lambda: twilio.fake.early_answers) == [200]
    states = [(e["payload"]["state"], e["payload"].get("deliveryState")) for e in
              twilio.events(message_id)]  # fmt: skip
    assert states[-1] == ("sent", "delivered")
    assert states.index(("sent", None)) < states.index(("sent", "delivered"))


def test_the_expiry_is_twilios_validity_period_within_its_limit(twilio: Setup) -> None:
    soon = twilio.send(text="code 4417", validityPeriod=300)
    later = twilio.send(text="news", validityPeriod=86400)  # past Twilio's 10 hours
    never = twilio.send(text="whenever")
    for message_id in (soon, later, never):
        twilio.settled(message_id, lambda m: m["state"] == "sent")
    forms = {request.parsed["Body"]: request.parsed for request in twilio.fake.seen}
    assert 290 <= forms["code 4417"]["ValidityPeriod"] <= 300  # the seconds left
    assert "ValidityPeriod" not in forms["news"]  # Twilio's own maximum applies
    assert "ValidityPeriod" not in forms["whenever"]


def test_smart_encoding_is_ours_and_twilio_is_told_not_to_add_its_own(twilio: Setup) -> None:
    replaced = twilio.send(text="It\u2019s \u201cdone\u201d", smartEncoding=True)
    kept = twilio.send(text="It\u2019s as typed", smartEncoding=False)
    for message_id in (replaced, kept):
        twilio.settled(message_id, lambda m: m["state"] == "sent")
    forms = {request.parsed["Body"]: request.parsed for request in twilio.fake.seen}
    assert sorted(forms) == ['It\'s "done"', "It\u2019s as typed"]
    assert all(form["SmartEncoded"] is False for form in forms.values())
    assert twilio.message(replaced)["text"] == 'It\'s "done"'  # the record shows what went
