"""Each carrier (sandbox, SMPP, HTTP upstream) is handed the smart-encoded text, and
none is handed a send to a recipient who opted out."""

from __future__ import annotations

from dataclasses import replace

from tests.carriers.conftest import smsc  # noqa: F401
from tests.carriers.smsc import FakeSmsc
from tests.carriers.test_http_upstream import _answer, _generic
from tests.carriers.test_smpp_engine import make
from tests.conftest import Harness
from tests.engine.conftest import BenchFactory, Receiver
from trebuchet.server.carriers.routing import build_carrier
from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.text import decode_text

FROM = "+15550001111"
OWNED = "+15550002222"
TO = "+15557654321"
CURLY = "x" * 150 + " \u201cok\u201d\u2026"  # 156 characters, UCS-2: three segments
SENT = "x" * 150 + ' "ok"...'  # 158 GSM-7 septets: one segment


async def test_sandbox_loops_the_smart_encoded_text_back(make_bench: BenchFactory) -> None:
    bench = await make_bench()  # the sandbox carrier
    sender = await bench.user([FROM])
    owner = await bench.user([OWNED])
    message_id = await bench.send(sender, **{"from": FROM, "to": OWNED, "text": CURLY,
                                             "smartEncoding": True})  # fmt: skip
    await bench.run()
    sent = await bench.message(sender, message_id)
    assert (sent["state"], sent["text"], sent["segmentCount"]) == ("sent", SENT, 1)
    listed = await bench.harness.http(owner).get(bench.harness.messages_path(owner))
    [copy] = listed.json()
    assert (copy["direction"], copy["text"]) == ("in", SENT)


async def test_smpp_gets_one_gsm7_segment_and_no_send_to_an_opted_out_recipient(
    make_bench: BenchFactory,
    harness: Harness,
    smsc: FakeSmsc,  # noqa: F811
) -> None:
    bench = await make(make_bench, harness, smsc)
    user = await bench.user([FROM])
    await bench.send(user, **{"from": FROM, "to": TO, "text": CURLY, "smartEncoding": True})
    await bench.run()
    [taken] = smsc.accepted
    assert taken.sm.data_coding == p.DC_DEFAULT
    assert decode_text(taken.sm.short_message, taken.sm.data_coding) == SENT
    await harness.http(user).post(f"/v1/users/{user.user_id}/optOuts", json={"recipient": TO})
    stopped = await bench.send(user, **{"from": FROM, "to": TO, "text": "more"})
    await bench.run()
    assert len(smsc.accepted) == 1
    assert (await bench.message(user, stopped))["deliveryCode"] == 775


async def test_http_upstream_gets_the_smart_encoded_text(
    make_bench: BenchFactory, harness: Harness, receiver: Receiver
) -> None:
    receiver.on(f"/send/{TO}", _answer)
    settings = replace(harness.settings, carrier="gen", carriers={"gen": _generic(receiver)})
    harness.app.state.services.settings = settings
    bench = await make_bench(carrier=build_carrier(settings, harness.store))
    user = await bench.user([FROM])
    await bench.send(user, **{"from": FROM, "to": TO, "text": CURLY, "smartEncoding": True})
    await bench.run()
    [hit] = receiver.at(f"/send/{TO}")
    assert hit.json()["msg"]["body"] == SENT
