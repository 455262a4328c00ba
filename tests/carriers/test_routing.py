"""Carrier selection: routes by sending number and destination prefix, configuration from
TOML and the environment, and the engine sending through the carrier a route picks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.carriers.smsc import FakeSmsc
from tests.carriers.test_smpp_carrier import out
from tests.carriers.test_smpp_engine import until
from tests.engine.conftest import BenchFactory
from tests.engine.recording import RecordingCarrier
from trebuchet.server.carriers.base import Accepted, OutboundMessage, Receipt
from trebuchet.server.carriers.routing import Route, RoutingCarrier, build_carrier
from trebuchet.server.carriers.sandbox import SandboxCarrier
from trebuchet.server.carriers.smpp import SmppCarrier
from trebuchet.server.config import Settings, load_settings
from trebuchet.server.store import Store

A, B = "+15550001111", "+15550002222"


class PollingCarrier(RecordingCarrier):
    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.polled: list[str] = []

    async def send(self, message: OutboundMessage) -> Accepted:
        await super().send(message)
        return Accepted(f"ref-{message.id}", poll_after=1.0)

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        self.polled.append(carrier_ref)
        return Receipt.for_code(0)


def test_routes_match_on_every_condition_they_have() -> None:
    by_number = Route.from_mapping({"carrier": "x", "from": A})
    by_prefix = Route.from_mapping({"carrier": "x", "to_prefix": ["+44", "+33"]})
    both = Route.from_mapping({"carrier": "x", "from": [A], "to_prefix": "+44"})
    assert by_number.matches(out()) and not by_number.matches(_from(B))
    assert by_prefix.matches(out(to="+447700900000")) and not by_prefix.matches(out())
    assert both.matches(out(to="+447700900000"))
    assert not both.matches(_from(B, to="+447700900000"))
    with pytest.raises(ValueError, match="needs 'carrier'"):
        Route.from_mapping({"from": A})
    with pytest.raises(ValueError, match="needs 'carrier'"):
        Route.from_mapping({"carrier": "x", "prefix": "+1"})


def _from(number: str, to: str = "+15557654321") -> OutboundMessage:
    message = out(to=to)
    return OutboundMessage(**{**message.__dict__, "from_number": number})


async def test_the_router_delegates_and_finds_the_carrier_again_when_polling() -> None:
    one, two = PollingCarrier("one"), PollingCarrier("two")
    router = RoutingCarrier(
        {"one": one, "two": two}, [Route("two", to_prefixes=("+44",))], default="one"
    )
    uk, us = out(to="+447700900000"), out()
    accepted = await router.send(uk)
    assert accepted.carrier_ref == f"two:ref-{uk.id}" and accepted.poll_after == 1.0
    assert (await router.send(us)).carrier_ref == f"one:ref-{us.id}"
    assert list(two.sends) == [uk.id] and list(one.sends) == [us.id]
    assert await router.poll_receipt(uk, f"two:ref-{uk.id}") == Receipt.for_code(0)
    assert two.polled == [f"ref-{uk.id}"]
    await router.poll_receipt(us, "sbx-old")  # a ref from before routing: the route decides
    assert one.polled == ["sbx-old"]
    with pytest.raises(ValueError, match="unknown carriers: three"):
        RoutingCarrier({"one": one}, [Route("three")], default="one")
    await router.close()


def test_the_default_is_the_sandbox_alone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(build_carrier(Settings(), store), SandboxCarrier)


def test_one_configured_carrier_is_used_as_it_is_and_several_get_a_router(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    smpp = {"type": "smpp", "host": "127.0.0.1", "system_id": "a", "password": "b"}
    only = build_carrier(Settings(carrier="smsc", carriers={"smsc": smpp}), store)
    assert isinstance(only, SmppCarrier) and only.name == "smsc"
    routed = build_carrier(
        Settings(carriers={"smsc": smpp}, routes=({"from": A, "carrier": "smsc"},)), store
    )
    assert isinstance(routed, RoutingCarrier)
    assert set(routed.carriers) == {"sandbox", "smsc"} and routed.default == "sandbox"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(carrier="nowhere"), "unknown carrier nowhere"),
        (Settings(carriers={"x": {"type": "pigeon"}}, carrier="x"), "type must be one of"),
        (Settings(carriers={"x": {"type": "smpp", "host": "h"}}, carrier="x"), "missing"),
        (Settings(carriers={"x": {"type": "smpp", "host": "h", "system_id": "a",
                                  "password": "b", "windw": 3}}, carrier="x"), "windw"),
        (Settings(carriers={"x": {"type": "smpp", "host": "h", "system_id": "a",
                                  "password": "b", "long_messages": "fax"}}, carrier="x"),
         "long_messages must be one of"),
    ],
)  # fmt: skip
def test_configuration_mistakes_are_named(tmp_path: Path, settings: Settings, message: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match=message):
        build_carrier(settings, store)


def test_carriers_and_routes_from_toml_and_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "trebuchet.toml"
    path.write_text(
        'carrier = "sandbox"\n'
        "[carriers.smsc]\n"
        'type = "smpp"\nhost = "smsc.example.net"\nsystem_id = "t"\npassword = "p"\n'
        "window = 20\n"
        "[[routes]]\n"
        'from = ["+15550001111"]\ncarrier = "smsc"\n'
        "[[routes]]\n"
        'to_prefix = "+44"\ncarrier = "smsc"\n'
    )
    settings = load_settings(environ={}, config_file=path)
    assert settings.carriers["smsc"]["window"] == 20
    assert settings.routes == ({"from": [A], "carrier": "smsc"},
                               {"to_prefix": "+44", "carrier": "smsc"})  # fmt: skip
    environ = {
        "TREBUCHET_CARRIERS": json.dumps({"up": {"type": "sandbox"}}),
        "TREBUCHET_ROUTES": json.dumps([{"to_prefix": "+1", "carrier": "up"}]),
    }
    from_env = load_settings(environ=environ)
    assert from_env.carriers == {"up": {"type": "sandbox"}}
    assert from_env.routes == ({"to_prefix": "+1", "carrier": "up"},)


async def test_the_engine_sends_through_the_carrier_a_route_picks(
    make_bench: BenchFactory, smsc: FakeSmsc
) -> None:
    smpp: dict[str, Any] = {
        "type": "smpp", "host": "127.0.0.1", "port": smsc.port, "system_id": "esme",
        "password": "secret", "rebind_initial": 0.05,
    }  # fmt: skip
    bench = await make_bench(carriers={"smsc": smpp}, routes=({"from": B, "carrier": "smsc"},))
    assert isinstance(bench.engine.carrier, RoutingCarrier)
    user = await bench.user([A, B])
    via_sandbox = await bench.send(user, **{"from": A, "to": "+15557654321", "text": "s"})
    via_smpp = await bench.send(user, **{"from": B, "to": "+15557654321", "text": "smpp"})

    async def both_sent() -> bool:
        await bench.run()
        states = [(await bench.message(user, m))["state"] for m in (via_sandbox, via_smpp)]
        return states == ["sent", "sent"]

    await until(both_sent)
    assert [taken.sm.short_message for taken in smsc.accepted] == [b"smpp"]
