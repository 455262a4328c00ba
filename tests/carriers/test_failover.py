"""Failover: a route naming several carriers, each carrier's circuit, its time limit, and
what the message remembers, against fake upstreams on loopback and the fake SMSC, on
both stores.  Counts are taken at the fake upstreams: nothing lost, nothing sent twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.carriers.smsc import ACCEPT, SILENT, FakeSmsc
from tests.carriers.test_smpp_carrier import out
from tests.carriers.test_smpp_engine import until
from tests.conftest import Harness, harnessed, make_settings, running_server, serve_http
from tests.engine.conftest import Bench, BenchFactory, Receiver
from trebuchet.server.carriers.base import PermanentFailure, TransientFailure, Unanswered
from trebuchet.server.carriers.failover import CarrierHealth, Circuit, FailoverPolicy
from trebuchet.server.carriers.routing import Route, RoutingCarrier, build_carrier
from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.config import Settings, dump_settings, load_settings, restore_settings
from trebuchet.server.engine import Engine
from trebuchet.server.store import Store

FROM, TO = "+15550001111", "+15557654321"
TOKEN = "events-token"


class HandClock:
    """Seconds, moved by hand: the circuits' clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeUpstream:
    """A JSON provider on loopback: takes a message (and says so), says "try again
    later", refuses it, or never answers, as ``mode`` says at the time of the request."""

    name: str
    mode: str = "accept"
    taken: list[str] = field(default_factory=list)  # our message ids it accepted
    requests: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    receiver: Receiver = field(default_factory=Receiver)

    async def answer(self, request: web.Request, count: int) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        if self.mode == "busy":
            return web.Response(status=503, headers={"Retry-After": "0"})
        if self.mode == "refuse":
            return web.Response(status=400, text="invalid destination")
        if self.mode == "hang":
            await self.release.wait()
            return web.Response(status=503)
        self.taken.append(body["ref"])
        return web.json_response({"id": f"{self.name}-{len(self.taken)}"}, status=201)

    def carrier(self) -> dict[str, Any]:
        return {
            "type": "http", "url": self.receiver.on("/send", self.answer),
            "body": {"to": "{to}", "from": "{from}", "text": "{text}", "ref": "{id}"},
            "ref_field": "id", "events_token": TOKEN,
        }  # fmt: skip


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    a, b = FakeUpstream("a"), FakeUpstream("b")
    async with serve_http(a.receiver.handle) as url_a, serve_http(b.receiver.handle) as url_b:
        a.receiver.base_url, b.receiver.base_url = url_a, url_b
        yield a, b
        a.release.set()
        b.release.set()


def _settings(
    harness: Harness, carriers: dict[str, Any], route: list[str], **more: Any
) -> Settings:
    settings = replace(harness.settings, carriers=carriers, routes=({"carriers": route},), **more)
    harness.app.state.services.settings = settings  # the events endpoint reads them
    return settings


async def _routed_bench(
    make_bench: BenchFactory, harness: Harness, settings: Settings, clock: HandClock
) -> tuple[Bench, RoutingCarrier]:
    router = build_carrier(settings, harness.store, clock=clock)
    assert isinstance(router, RoutingCarrier)
    return await make_bench(carrier=router), router


async def _send_many(bench: Bench, user: Any, count: int, **extra: Any) -> list[str]:
    return [
        await bench.send(user, **{"from": FROM, "to": TO, "text": f"m{index}", **extra})
        for index in range(count)
    ]


# -- the engine, a burst, fake upstreams --------------------------------------------------


async def test_failover_mid_burst_loses_nothing_and_sends_nothing_twice(
    make_bench: BenchFactory, harness: Harness, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    failover = {"a": {"circuit_failures": 3}}
    settings = _settings(harness, {"a": a.carrier(), "b": b.carrier()}, ["a", "b"],
                         failover=failover)  # fmt: skip
    bench, router = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    first = await _send_many(bench, user, 5, receiptRequested="all")
    await bench.run()
    a.mode = "busy"  # mid-burst: the first carrier starts answering "try again later"
    rest = await _send_many(bench, user, 15, receiptRequested="all")
    await bench.run()
    # Its "try again later" answers opened a's circuit (after 3; sends already under way
    # asked it too): later messages go straight to b.
    assert router.health["a"].circuit == Circuit.OPEN
    asked = a.requests
    later = await _send_many(bench, user, 10, receiptRequested="all")
    await bench.run()
    assert a.requests == asked <= 5 + 15

    ids = first + rest + later
    taken = Counter(a.taken + b.taken)
    assert set(taken) == set(ids) and set(taken.values()) == {1}  # all, each once
    assert a.taken == first and sorted(b.taken) == sorted(rest + later)
    for message_id in ids:
        message = await bench.message(user, message_id)
        assert message["state"] == "sent"
        assert message["carrier"] == ("a" if message_id in first else "b")


async def test_receipts_from_the_carrier_that_took_it_find_the_message(
    make_bench: BenchFactory,
    harness: Harness,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    receiver: Receiver,
) -> None:
    a, b = upstreams
    a.mode = "busy"
    settings = _settings(harness, {"a": a.carrier(), "b": b.carrier()}, ["a", "b"])
    bench, _ = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    [message_id] = await _send_many(bench, user, 1, receiptRequested="all",
                                    callbackUrl=receiver.url("/cb"))  # fmt: skip
    await bench.run()
    assert b.taken == [message_id] and a.taken == []
    http = harness.http()
    from_a = {"type": "receipt", "ref": "b-1", "status": "delivered"}
    wrong = await http.post(f"/v1/carriers/a/events?token={TOKEN}", json=from_a)
    assert wrong.json() == {"done": "ignored"}  # refs are per carrier: a never had it
    answer = await http.post(f"/v1/carriers/b/events?token={TOKEN}", json=from_a)
    assert answer.json() == {"done": "receipt"}
    await bench.run()
    message = await bench.message(user, message_id)
    assert (message["deliveryState"], message["deliveryCode"], message["carrier"]) == (
        "delivered", 0, "b")  # fmt: skip
    events = await bench.events(user, message_id)
    assert [(e["payload"]["state"], e.get("carrier")) for e in events] == [
        ("sent", "b"), ("sent", "b")]  # fmt: skip
    assert "carrier" not in events[0]["payload"]  # callbacks stay as the spec has them


async def test_a_permanent_refusal_is_final(
    make_bench: BenchFactory, harness: Harness, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    a.mode = "refuse"
    settings = _settings(harness, {"a": a.carrier(), "b": b.carrier()}, ["a", "b"])
    bench, router = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    [message_id] = await _send_many(bench, user, 1)
    await bench.run()
    message = await bench.message(user, message_id)
    assert message["state"] == "error" and "carrier" not in message
    assert (a.requests, b.requests) == (1, 0)
    assert router.health["a"].circuit == Circuit.CLOSED  # it answered: it is up


@pytest.mark.parametrize("on_timeout", ["failover", "fail"])
async def test_no_answer_in_time(
    make_bench: BenchFactory,
    harness: Harness,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    on_timeout: str,
) -> None:
    a, b = upstreams
    a.mode = "hang"  # takes the request and never answers (released at the end)
    failover = {"a": {"send_timeout": 0.2, "on_timeout": on_timeout}}
    settings = _settings(harness, {"a": a.carrier(), "b": b.carrier()}, ["a", "b"],
                         failover=failover)  # fmt: skip
    bench, router = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    [message_id] = await _send_many(bench, user, 1)
    await bench.run()
    message = await bench.message(user, message_id)
    assert a.requests == 1
    if on_timeout == "failover":  # at least once: the next carrier sends it
        assert (message["state"], message["carrier"], b.taken) == ("sent", "b", [message_id])
    else:  # at most once: never sent again, anywhere
        assert (message["state"], message["deliveryCode"]) == ("error", 999)
        assert b.requests == 0
    assert router.health["a"].failures == 1


# -- circuits ----------------------------------------------------------------------------


async def test_the_circuit_opens_then_a_half_open_trial_closes_it(
    harness: Harness, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    a.mode = "busy"
    clock = HandClock()
    failover = {"a": {"circuit_failures": 2, "circuit_open_seconds": 30}}
    settings = _settings(harness, {"a": a.carrier(), "b": b.carrier()}, ["a", "b"],
                         failover=failover)  # fmt: skip
    router = build_carrier(settings, harness.store, clock=clock)
    assert isinstance(router, RoutingCarrier)
    health = router.health["a"]
    try:
        for _ in range(2):
            assert (await router.send(out())).carrier == "b"
        assert (health.circuit, a.requests) == (Circuit.OPEN, 2)
        await router.send(out())
        assert a.requests == 2  # passed over while open
        assert router.describe()["a"]["circuit"] == "open"

        clock.now += 31  # half-open: one trial, which fails: open again
        await router.send(out())
        assert (a.requests, health.circuit) == (3, Circuit.OPEN)
        await router.send(out())
        assert a.requests == 3

        clock.now += 31
        a.mode = "accept"  # recovered: the trial closes the circuit
        accepted = await router.send(out())
        assert (accepted.carrier, health.circuit, health.failures) == ("a", Circuit.CLOSED, 0)
        assert (await router.send(out())).carrier == "a"
        assert len(b.taken) == 5 and len(a.taken) == 2
    finally:
        await router.close()


async def test_every_circuit_open_means_retry_when_the_first_one_reopens(
    harness: Harness, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    a.mode = b.mode = "busy"
    clock = HandClock()
    one = {"circuit_failures": 1, "circuit_open_seconds": 20}
    settings = _settings(
        harness,
        {"a": a.carrier(), "b": b.carrier()},
        ["a", "b"],
        failover={"a": one, "b": {**one, "circuit_open_seconds": 10}},
    )
    router = build_carrier(settings, harness.store, clock=clock)
    try:
        with pytest.raises(TransientFailure, match=r"a: upstream answered 503.*b: upstream"):
            await router.send(out())
        with pytest.raises(TransientFailure, match="circuit open") as caught:
            await router.send(out())
        assert caught.value.retry_after == 10  # b's circuit lets a trial through first
        assert (a.requests, b.requests) == (1, 1)
    finally:
        await router.close()


def test_the_breaker_on_its_own() -> None:
    clock = HandClock()
    health = CarrierHealth("x", FailoverPolicy(circuit_failures=2, circuit_open_seconds=5), clock)
    health.failed("transient", "busy")
    health.answered("accepted")  # a success in between: the count starts over
    health.failed("transient", "busy")
    assert health.circuit == Circuit.CLOSED and health.allows()
    health.failed("timeout", "slow")
    assert health.circuit == Circuit.OPEN and not health.allows()
    assert health.open_for() == 5
    clock.now += 5
    assert health.allows() and health.circuit == Circuit.HALF_OPEN
    assert not health.allows()  # one trial at a time
    health.abandoned()  # the trial was cancelled: another may go
    assert health.allows()
    health.answered("permanent")
    assert health.circuit == Circuit.CLOSED
    assert health.describe() == {"circuit": "closed", "failures": 0, "lastFailure": "slow"}
    never = CarrierHealth("y", FailoverPolicy(circuit_failures=0), clock)
    for _ in range(50):
        never.failed("transient", "busy")
    assert never.circuit == Circuit.CLOSED


# -- SMPP behind a router ----------------------------------------------------------------


def _smpp(smsc: FakeSmsc) -> dict[str, Any]:
    return {
        "type": "smpp", "host": "127.0.0.1", "port": smsc.port, "system_id": "esme",
        "password": "secret", "rebind_initial": 0.05, "response_timeout": 2.0,
        "receipt_wait": 2.0,
    }  # fmt: skip


async def test_from_an_http_upstream_to_smpp_and_its_receipt_finds_the_message(
    make_bench: BenchFactory,
    harness: Harness,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    smsc: FakeSmsc,
) -> None:
    a, _ = upstreams
    a.mode = "busy"
    settings = _settings(harness, {"a": a.carrier(), "smsc": _smpp(smsc)}, ["a", "smsc"])
    bench, _ = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    ids = await _send_many(bench, user, 3, receiptRequested="all")

    async def all_sent() -> bool:
        await bench.run()
        states = [(await bench.message(user, m))["state"] for m in ids]
        return states == ["sent"] * 3

    await until(all_sent)
    assert a.requests == 3 and len(smsc.accepted) == 3
    assert sorted(t.sm.short_message for t in smsc.accepted) == [b"m0", b"m1", b"m2"]
    assert await smsc.receipt(smsc.accepted[1].message_id) == p.ESME_ROK
    await bench.run()
    delivered = [(await bench.message(user, m)).get("deliveryState") for m in ids]
    assert delivered.count("delivered") == 1
    assert {(await bench.message(user, m))["carrier"] for m in ids} == {"smsc"}


async def test_a_multipart_message_partly_taken_stays_with_its_carrier(
    make_bench: BenchFactory,
    harness: Harness,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    smsc: FakeSmsc,
) -> None:
    _, b = upstreams
    smsc.plan = lambda index, sm: ACCEPT if index != 1 else p.ESME_RSYSERR  # part 2: busy
    settings = _settings(harness, {"smsc": _smpp(smsc), "b": b.carrier()}, ["smsc", "b"])
    bench, _ = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    [message_id] = await _send_many(bench, user, 1, text="long " * 60)

    async def sent() -> bool:
        await bench.run_for(2)  # the retry's backoff
        return (await bench.message(user, message_id))["state"] == "sent"

    await until(sent, seconds=20)
    assert b.requests == 0  # never sent whole by another carrier
    parts = [t.sm.short_message[4:6] for t in smsc.accepted]  # UDH: total, number
    assert sorted(parts) == [b"\x02\x01", b"\x02\x02"]  # each part taken once
    assert (await bench.message(user, message_id))["carrier"] == "smsc"


# -- configuration -----------------------------------------------------------------------


def test_routes_name_one_carrier_or_several_in_order() -> None:
    assert Route.from_mapping({"carrier": "x"}).carriers == ("x",)
    assert Route.from_mapping({"carriers": ["x", "y"], "to_prefix": "+44"}).carriers == ("x", "y")
    for wrong in ({"carrier": "x", "carriers": ["y"]}, {"carriers": []}, {}):
        with pytest.raises(ValueError, match="'carrier' \\(one name\\) or 'carriers'"):
            Route.from_mapping(wrong)
    with pytest.raises(ValueError, match="names a carrier twice"):
        Route.from_mapping({"carriers": ["x", "x"]})


@pytest.mark.parametrize(
    ("failover", "message"),
    [
        ({"nowhere": {}}, "unknown carrier nowhere"),
        ({"sandbox": {"send_timout": 1}}, "unknown settings send_timout"),
        ({"sandbox": {"on_timeout": "maybe"}}, "on_timeout must be one of failover, fail"),
        ({"sandbox": {"circuit_open_seconds": 0}}, "circuit_open_seconds must be > 0"),
        ({"sandbox": {"send_timeout": "soon"}}, "could not convert"),
    ],
)
def test_failover_mistakes_are_named(
    tmp_path: Path, failover: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_carrier(Settings(failover=failover), Store(f"sqlite:///{tmp_path / 'x.db'}"))


def test_a_single_carrier_with_failover_settings_gets_a_router(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    plain = build_carrier(Settings(), store)
    assert not isinstance(plain, RoutingCarrier)
    guarded = build_carrier(Settings(failover={"sandbox": {"send_timeout": 5}}), store)
    assert isinstance(guarded, RoutingCarrier)
    assert guarded.health["sandbox"].policy.send_timeout == 5


async def test_an_unanswered_send_passes_on_as_unanswered() -> None:
    class Silent:
        name = "silent"

        def bind(self, sink: Any) -> None: ...

        async def send(self, message: Any) -> Any:
            raise Unanswered("no answer")

        async def poll_receipt(self, message: Any, ref: str) -> None: ...

        async def close(self) -> None: ...

    router = RoutingCarrier({"s": Silent()}, [], "s")
    with pytest.raises(Unanswered):
        await router.send(out())
    failing = RoutingCarrier({"s": Silent()}, [], "s",
                             policies={"s": FailoverPolicy(on_timeout="fail")})  # fmt: skip
    with pytest.raises(PermanentFailure, match="on_timeout = fail") as caught:
        await failing.send(out())
    assert caught.value.code == 999


# -- health in /ready and /metrics -------------------------------------------------------


async def test_each_carriers_health_shows_in_readiness_and_metrics(
    sqlite_url: str, tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    a.mode = "busy"
    settings = make_settings(
        sqlite_url, media_dir=str(tmp_path / "media"), carriers={"a": a.carrier(),
        "b": b.carrier()}, routes=({"carriers": ["a", "b"]},),
        failover={"a": {"circuit_failures": 1, "circuit_open_seconds": 3600}},
    )  # fmt: skip
    async with harnessed(settings, engine=lambda store, s: Engine(store, s)) as harness:
        router = harness.app.state.engine.carrier
        assert isinstance(router, RoutingCarrier)
        assert (await router.send(out())).carrier == "b"
        http = harness.http()
        ready = await http.get("/ready")
        assert ready.status_code == 200  # a carrier down does not stop the API taking messages
        carriers = ready.json()["carriers"]
        assert carriers["b"] == {"circuit": "closed", "failures": 0}
        assert carriers["a"]["circuit"] == "open" and carriers["a"]["failures"] == 1
        assert carriers["a"]["lastFailure"].startswith("upstream answered 503")
        assert 0 < carriers["a"]["retryInSeconds"] <= 3600
        text = (await http.get("/metrics")).text
        assert 'trebuchet_carrier_circuit_state{carrier="a"} 2.0' in text
        assert 'trebuchet_carrier_circuit_state{carrier="b"} 0.0' in text
        assert 'trebuchet_carrier_consecutive_failures{carrier="a"} 1.0' in text
        for line in ('trebuchet_carrier_sends_total{carrier="a",outcome="transient"}',
                     'trebuchet_carrier_sends_total{carrier="b",outcome="accepted"}',
                     'trebuchet_carrier_failovers_total{carrier="a"}'):  # fmt: skip
            assert line in text


async def test_readiness_without_a_router_says_nothing_of_carriers(harness: Harness) -> None:
    assert (await harness.http().get("/ready")).json() == {"status": "ready"}


def test_failover_settings_from_toml_and_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "trebuchet.toml"
    path.write_text(
        "[carriers.relay]\n"
        'type = "sandbox"\n'
        "[failover.relay]\n"
        'send_timeout = 5\non_timeout = "fail"\n'
        "[[routes]]\n"
        'carriers = ["relay", "sandbox"]\n'
    )
    settings = load_settings(environ={}, config_file=path)
    assert settings.failover == {"relay": {"send_timeout": 5, "on_timeout": "fail"}}
    router = build_carrier(settings, Store(f"sqlite:///{tmp_path / 'x.db'}"))
    assert isinstance(router, RoutingCarrier) and router.chain(out()) == ("relay", "sandbox")
    assert router.health["relay"].policy == FailoverPolicy(send_timeout=5, on_timeout="fail")
    environ = {"TREBUCHET_FAILOVER": json.dumps({"relay": {"circuit_failures": 2}})}
    assert load_settings(environ=environ).failover == {"relay": {"circuit_failures": 2}}
    assert restore_settings(dump_settings(settings)).failover == settings.failover


@pytest.mark.parametrize("on_timeout", ["failover", "fail"])
async def test_a_carriers_own_time_limit_counts_as_no_answer(
    harness: Harness, upstreams: tuple[FakeUpstream, FakeUpstream], on_timeout: str
) -> None:
    a, b = upstreams
    a.mode = "hang"
    settings = _settings(
        harness, {"a": {**a.carrier(), "timeout": 0.2}, "b": b.carrier()}, ["a", "b"],
        failover={"a": {"on_timeout": on_timeout}},
    )  # fmt: skip
    router = build_carrier(settings, harness.store)
    assert isinstance(router, RoutingCarrier)
    try:
        if on_timeout == "failover":
            assert (await router.send(out())).carrier == "b"
        else:
            with pytest.raises(PermanentFailure, match=r"did not answer.*on_timeout = fail"):
                await router.send(out())
            assert b.requests == 0
        assert a.requests == 1
    finally:
        await router.close()


async def test_an_smpp_submit_left_unanswered_goes_to_the_next_carrier(
    make_bench: BenchFactory,
    harness: Harness,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    smsc: FakeSmsc,
) -> None:
    _, b = upstreams
    smsc.plan = lambda index, sm: SILENT
    smpp = {**_smpp(smsc), "response_timeout": 0.3}
    settings = _settings(harness, {"smsc": smpp, "b": b.carrier()}, ["smsc", "b"])
    bench, _ = await _routed_bench(make_bench, harness, settings, HandClock())
    user = await bench.user([FROM])
    [message_id] = await _send_many(bench, user, 1)

    async def sent() -> bool:
        await bench.run()
        return (await bench.message(user, message_id))["state"] == "sent"

    await until(sent, seconds=15)
    assert (smsc.submits, b.taken) == (1, [message_id])
    assert (await bench.message(user, message_id))["carrier"] == "b"


# -- the real server on a socket ---------------------------------------------------------


async def test_the_live_server_fails_over_and_reports_it(
    sqlite_url: str, tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    a.mode = "busy"
    settings = make_settings(
        sqlite_url, media_dir=str(tmp_path / "media"), poll_interval=0.05,
        carriers={"a": a.carrier(), "b": b.carrier()}, routes=({"carriers": ["a", "b"]},),
        failover={"a": {"circuit_failures": 2, "circuit_open_seconds": 3600}},
    )  # fmt: skip
    with running_server(settings) as live:
        user = live.create_user([FROM])
        async with httpx.AsyncClient(base_url=live.base_url, auth=user.auth) as http:
            path = f"/v1/users/{user.user_id}/messages"
            ids = []
            for index in range(6):
                sent = await http.post(path, json={"from": FROM, "to": TO, "text": f"{index}"})
                assert sent.status_code == 201, sent.text
                ids.append(sent.headers["location"].rsplit("/", 1)[1])

            async def all_sent() -> bool:
                found = [(await http.get(f"{path}/{m}")).json() for m in ids]
                return all(m["state"] == "sent" for m in found)

            await until(all_sent, seconds=20)
            for message_id in ids:
                assert (await http.get(f"{path}/{message_id}")).json()["carrier"] == "b"
            ready = (await http.get("/ready")).json()
            metrics = (await http.get("/metrics")).text
    assert sorted(b.taken) == sorted(ids) and a.taken == []
    assert 2 <= a.requests <= 6
    assert ready["carriers"]["a"]["circuit"] == "open"
    assert 'trebuchet_carrier_circuit_state{carrier="a"} 2.0' in metrics
