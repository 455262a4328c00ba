"""The provider carriers when things go wrong: a provider down or slow, an address the
outbound policy forbids, an answer too long to read, and a status callback that arrives
before our ``sent`` state is stored."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.carriers import rawhttp
from tests.carriers.conftest import RecordingSink
from tests.carriers.providers.conftest import BANDWIDTH, TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.carriers.providers.fakes import FakeBandwidth, FakeTwilio, slow
from tests.conftest import make_settings, serve_http
from trebuchet.server.carriers import upstream_events
from trebuchet.server.carriers.bandwidth import BandwidthCarrier, BandwidthConfig, delivery_code
from trebuchet.server.carriers.base import (
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    Unanswered,
)
from trebuchet.server.carriers.failover import FailoverPolicy
from trebuchet.server.carriers.provider_http import ANSWER_BYTES, ProviderClient
from trebuchet.server.carriers.refs import MemoryRefs, Part
from trebuchet.server.carriers.routing import Route, RoutingCarrier
from trebuchet.server.carriers.twilio import TwilioCarrier, TwilioConfig, build_twilio_carrier
from trebuchet.server.carriers.twilio_events import TwilioEvents, compute_signature, verified
from trebuchet.server.carriers.upstream_events import NotYet
from trebuchet.server.domain.states import MessageState
from trebuchet.server.net.guard import AddressPolicy

LOOPBACK = AddressPolicy(allow_loopback=True)
MESSAGE = OutboundMessage("m-1", "u-1", "+15550001111", "+15557654321", "hi", [], 1, 1)


def _twilio(url: str, timeout: float = 5.0, policy: AddressPolicy = LOOPBACK) -> TwilioCarrier:
    config = TwilioConfig(TWILIO_ACCOUNT, TWILIO_TOKEN, url=url, timeout=timeout)
    return TwilioCarrier("tw", config, MemoryRefs(), ProviderClient(policy, timeout), "http://x/")


def _bandwidth(url: str, timeout: float = 5.0) -> BandwidthCarrier:
    config = BandwidthConfig(**BANDWIDTH, url=url, timeout=timeout)
    return BandwidthCarrier("bw", config, MemoryRefs(), ProviderClient(LOOPBACK, timeout))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


@pytest.fixture
async def hanging() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(status=201)

    async with serve_http(handle) as url:
        yield url


@pytest.fixture
async def endless() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=201)
        await response.prepare(request)
        for _ in range(64):  # 4 MiB in all, far past what may be read
            await response.write(b"x" * 65536)
        return response

    async with serve_http(handle) as url:
        yield url


async def test_a_provider_that_is_down_is_a_retry() -> None:
    for carrier in (_twilio(f"http://127.0.0.1:{_closed_port()}"),
                    _bandwidth(f"http://127.0.0.1:{_closed_port()}")):  # fmt: skip
        with pytest.raises(TransientFailure, match="unreachable"):
            await carrier.send(MESSAGE)
        await carrier.close()


async def test_no_answer_once_the_request_went_out_is_unanswered(
    fake_twilio: FakeTwilio, fake_bandwidth: FakeBandwidth
) -> None:
    fake_twilio.script.append(slow(2))  # the request arrives; no answer in time
    fake_bandwidth.script.append(slow(2))
    tw, bw = _twilio(fake_twilio.base_url, timeout=0.3), _bandwidth(fake_bandwidth.api_url, 0.3)
    for fake, carrier in ((fake_twilio, tw), (fake_bandwidth, bw)):
        with pytest.raises(Unanswered, match="did not answer: TimeoutError"):
            await carrier.send(MESSAGE)
        await carrier.close()
        assert len(fake.seen) == 1  # it reached the provider, which may have taken it


@pytest.fixture
def unconnectable() -> Iterator[str]:
    with rawhttp.unconnectable() as url:
        yield url


async def test_no_connection_in_time_is_a_retry_not_unanswered(unconnectable: str) -> None:
    for carrier in (_twilio(unconnectable, timeout=0.3), _bandwidth(unconnectable, timeout=0.3)):
        with pytest.raises(TransientFailure, match="unreachable: TimeoutError") as raised:
            await carrier.send(MESSAGE)
        assert not isinstance(raised.value, Unanswered)  # nothing went out
        await carrier.close()


async def test_a_connection_dropped_once_the_request_went_out_is_unanswered() -> None:
    async with rawhttp.raw_peer("drop") as peer:
        for carrier in (_twilio(peer.url), _bandwidth(peer.url)):
            with pytest.raises(Unanswered, match="dropped the connection before answering"):
                await carrier.send(MESSAGE)
            await carrier.close()
        assert len(peer.requests) == 2  # each read whole by the peer, once: maybe taken


async def test_an_unanswered_provider_is_not_sent_around_when_on_timeout_is_fail(
    fake_twilio: FakeTwilio, fake_bandwidth: FakeBandwidth
) -> None:
    carriers = {"tw": _twilio(fake_twilio.base_url, timeout=0.3),
                "bw": _bandwidth(fake_bandwidth.api_url)}  # fmt: skip
    route = Route("tw", fallbacks=("bw",))
    at_most_once = RoutingCarrier(carriers, [route], "tw",
                                  policies={"tw": FailoverPolicy(on_timeout="fail")})  # fmt: skip
    fake_twilio.script.append(slow(2))
    with pytest.raises(PermanentFailure, match="on_timeout = fail"):
        await at_most_once.send(MESSAGE)
    assert (len(fake_twilio.seen), fake_bandwidth.sent) == (1, {})  # never sent twice

    at_least_once = RoutingCarrier(carriers, [route], "tw")  # on_timeout = failover
    fake_twilio.script.append(slow(2))
    accepted = await at_least_once.send(replace(MESSAGE, id="m-2"))
    assert accepted.carrier_ref.startswith("bw:") and len(fake_bandwidth.sent) == 1
    await at_least_once.close()


async def test_an_endless_answer_is_cut_off_and_retried(endless: str) -> None:
    carrier = _twilio(endless)
    with pytest.raises(TransientFailure, match="without a sid"):
        await carrier.send(MESSAGE)
    await carrier.close()
    assert ANSWER_BYTES < 4 * 1024 * 1024


async def test_the_outbound_policy_applies_to_the_provider(hanging: str) -> None:
    carrier = _twilio(hanging, policy=AddressPolicy())
    with pytest.raises(TransientFailure, match="loopback address"):
        await carrier.send(MESSAGE)
    await carrier.close()


def _handler(refs: MemoryRefs, sink: RecordingSink) -> TwilioEvents:
    async def no_media(urls: object) -> tuple[()]:
        return ()

    return TwilioEvents("tw", refs, sink, no_media)


async def test_a_receipt_before_our_sent_state_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_events, "REF_WAIT_SECONDS", 2.0)
    refs, sink = MemoryRefs(), RecordingSink()
    await refs.record("tw", [Part("m-1", 1, 1, "SM1")])
    refs.states["m-1"] = MessageState.SENDING
    form = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    handling = asyncio.create_task(_handler(refs, sink).handle(form))
    await asyncio.sleep(0.2)
    assert not handling.done() and sink.receipts == []
    refs.states["m-1"] = MessageState.SENT  # our send stores its outcome
    assert await handling == "receipt"
    assert [(mid, r.code) for mid, r in sink.receipts] == [("m-1", 0)]


async def test_a_receipt_whose_message_stays_unsent_asks_the_provider_to_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_events, "REF_WAIT_SECONDS", 0.2)
    refs, sink = MemoryRefs(), RecordingSink()
    await refs.record("tw", [Part("m-1", 1, 1, "SM1")])
    refs.states["m-1"] = MessageState.SENDING
    with pytest.raises(NotYet):
        await _handler(refs, sink).handle([("MessageSid", "SM1"), ("MessageStatus", "failed")])
    assert sink.receipts == []


FORM_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@given(st.lists(st.tuples(st.sampled_from(["Body", "To", "MediaUrl", "A", "b"]), FORM_TEXT),
                max_size=8))  # fmt: skip
def test_our_signature_is_twilios(form: list[tuple[str, str]]) -> None:
    url = "https://sms.example.com/v1/carriers/tw/events?x=1"
    params: dict[str, str] = dict(form)  # Twilio's validator takes one value per name
    pairs = list(params.items())
    expected = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    assert compute_signature(TWILIO_TOKEN, url, pairs) == expected
    assert verified(TWILIO_TOKEN, "https://sms.example.com/v1/carriers/tw/events", "x=1",
                    pairs, expected)  # fmt: skip


def test_bandwidth_error_codes_map_onto_delivery_codes() -> None:
    assert [delivery_code(c) for c in (4720, 4775, 5600, 5610, 9902, 4432, 4998, 5998, None)] == [
        720, 775, 600, 610, 902, 750, 750, 650, 999,
    ]  # fmt: skip


async def test_a_request_twilio_would_refuse_fails_against_its_document(
    fake_twilio: FakeTwilio,
) -> None:
    config = TwilioConfig("ACnot-an-account-sid", TWILIO_TOKEN, url=fake_twilio.base_url)
    carrier = TwilioCarrier("tw", config, MemoryRefs(), ProviderClient(LOOPBACK, 5.0), "http://x/")
    with pytest.raises(PermanentFailure):
        await carrier.send(MESSAGE)
    await carrier.close()
    assert fake_twilio.violations  # the fixture would fail the test on this
    fake_twilio.violations.clear()


async def test_a_request_bandwidth_would_refuse_fails_against_its_document(
    fake_bandwidth: FakeBandwidth,
) -> None:
    carrier = _bandwidth(fake_bandwidth.api_url)
    with pytest.raises(PermanentFailure):
        await carrier.send(replace(MESSAGE, text="x" * 2049))  # the document's maxLength
    await carrier.close()
    assert fake_bandwidth.violations
    fake_bandwidth.violations.clear()


def test_settings_are_checked_when_the_carrier_is_built() -> None:
    with pytest.raises(ValueError, match="missing auth_token"):
        TwilioConfig.from_mapping("tw", {"type": "twilio", "account_sid": TWILIO_ACCOUNT})
    with pytest.raises(ValueError, match="unknown settings region"):
        BandwidthConfig.from_mapping("bw", {**BANDWIDTH, "region": "eu"})
    with pytest.raises(ValueError, match="missing callback_password"):
        BandwidthConfig.from_mapping("bw", {**BANDWIDTH, "callback_password": ""})
    values = {"type": "twilio", "account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN}
    settings = make_settings("sqlite:///unused.db", public_url=None)
    with pytest.raises(ValueError, match="set public_url"):
        build_twilio_carrier("tw", values, None, settings)  # type: ignore[arg-type]
