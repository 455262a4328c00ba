"""A message's validity reaches the carriers that take one: SMPP ``validity_period`` in
submit_sm (relative time), an HTTP upstream's ``{validity}`` placeholder and a Catapult
upstream's ``validityPeriod``; a message without expiry sends none of them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web

from tests.carriers.conftest import SmppFactory
from tests.carriers.smsc import FakeSmsc
from tests.carriers.test_smpp_carrier import out
from tests.conftest import Harness
from tests.engine.conftest import BenchFactory, Receiver
from tests.engine.test_scheduling import at
from trebuchet.server.carriers.http_upstream import HttpUpstreamCarrier, UpstreamConfig
from trebuchet.server.carriers.refs import MemoryRefs
from trebuchet.server.carriers.routing import build_carrier
from trebuchet.server.carriers.smpp import pdu as p

FROM, TO = "+15550001111", "+15557654321"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "000000000001000R"), (3_723, "000000010203000R"), (14 * 86_400, "000014000000000R"),
     (86_399, "000000235959000R")],
)  # fmt: skip
def test_relative_time_is_smpp_s_format(seconds: int, text: str) -> None:
    assert p.relative_time(seconds) == text
    assert len(text) == 16


async def test_smpp_submits_the_validity_period(smsc: FakeSmsc, make_smpp: SmppFactory) -> None:
    carrier, _, _ = await make_smpp()
    await carrier.send(replace(out("lasting"), validity_seconds=3_600))
    await carrier.send(out("forever"))
    lasting, forever = (taken.sm for taken in smsc.accepted)
    assert lasting.validity_period == "000000010000000R"
    assert forever.validity_period == ""


async def test_smpp_under_the_engine_gets_the_time_left(
    make_bench: BenchFactory, harness: Harness, smsc: FakeSmsc
) -> None:
    from tests.carriers.test_smpp_engine import make

    bench = await make(make_bench, harness, smsc)
    user = await bench.user([FROM])
    await bench.send(user, **{"from": FROM, "to": TO, "text": "x", "sendAt": at(30),
                              "validityPeriod": 7_200})  # fmt: skip
    bench.clock.advance(31)
    await bench.run()
    [taken] = smsc.accepted
    # Counted from sendAt; the message went a second or so after it.
    assert taken.sm.validity_period in {"000000015959000R", "000000015958000R"}


def _upstream(receiver: Receiver, kind: str) -> UpstreamConfig:
    values = {
        "type": "http", "url": receiver.url("/send"), "events_token": "t",
        "body": {"to": "{to}", "valid_for": "{validity}"},
    } if kind == "http" else {
        "type": "catapult", "url": receiver.url(""), "user_id": "u-up", "api_token": "t",
        "api_secret": "s", "events_token": "t", "callback_url": "http://127.0.0.1:9/cb",
    }  # fmt: skip
    return UpstreamConfig.from_mapping("up", values)


async def _answer(request: web.Request, count: int) -> web.StreamResponse:
    location = f"/v1/users/u-up/messages/up-{count}"
    return web.json_response({"id": f"up-{count}"}, status=201, headers={"Location": location})


@pytest.mark.parametrize("kind", ["http", "catapult"])
async def test_http_upstreams_pass_the_validity(receiver: Receiver, kind: str) -> None:
    path = "/send" if kind == "http" else "/v1/users/u-up/messages"
    receiver.on(path, _answer)
    carrier = HttpUpstreamCarrier("up", _upstream(receiver, kind), MemoryRefs(), "http://x/cb")
    try:
        await carrier.send(replace(out("lasting"), validity_seconds=90))
        await carrier.send(out("forever"))
    finally:
        await carrier.close()
    lasting, forever = (hit.json() for hit in receiver.at(path))
    if kind == "http":
        assert (lasting["valid_for"], forever["valid_for"]) == ("90", "")
    else:
        assert lasting["validityPeriod"] == 90 and "validityPeriod" not in forever


async def test_an_upstream_from_settings_gets_it_through_the_engine(
    make_bench: BenchFactory, harness: Harness, receiver: Receiver
) -> None:
    receiver.on("/send", _answer)
    config = {"type": "http", "url": receiver.url("/send"), "events_token": "t",
              "body": {"valid_for": "{validity}"}}  # fmt: skip
    settings = replace(harness.settings, carrier="up", carriers={"up": config})
    bench = await make_bench(carrier=build_carrier(settings, harness.store))
    user = await bench.user([FROM])
    await bench.send(user, **{"from": FROM, "to": TO, "text": "x", "validityPeriod": 600})
    await bench.run()
    [hit] = receiver.at("/send")
    assert 598 <= int(hit.json()["valid_for"]) <= 600
