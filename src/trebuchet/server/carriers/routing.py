"""Which carrier sends a message: per sending number, or by the destination's prefix.

Configured with named carriers and an ordered list of routes (docs/carriers.md)::

    carrier = "sandbox"            # messages no route picks

    [carriers.smsc]
    type = "smpp"
    host = "smsc.example.net"
    system_id = "trebuchet"
    password = "..."

    [[routes]]
    from = ["+15550001111"]        # these sending numbers...
    carrier = "smsc"

    [[routes]]
    to_prefix = ["+44", "+33"]     # ...or these destinations
    carrier = "smsc"

The first route whose conditions all hold picks the carrier.  :func:`build_carrier` gives
the engine one :class:`~trebuchet.server.carriers.base.Carrier`: the only one configured
as is, or a :class:`RoutingCarrier` that delegates to the right one and prefixes each
``carrier_ref`` with the carrier's name so that later polls find it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trebuchet.server.carriers.base import Accepted, Carrier, CarrierSink, OutboundMessage, Receipt
from trebuchet.server.carriers.sandbox import SandboxCarrier
from trebuchet.server.config import Settings
from trebuchet.server.store import Store

SANDBOX = "sandbox"
ROUTE_KEYS = {"carrier", "from", "to_prefix"}


@dataclass(frozen=True)
class Route:
    carrier: str
    from_numbers: frozenset[str] = frozenset()
    to_prefixes: tuple[str, ...] = ()

    def matches(self, message: OutboundMessage) -> bool:
        if self.from_numbers and message.from_number not in self.from_numbers:
            return False
        return not self.to_prefixes or message.to_number.startswith(self.to_prefixes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Route:
        unknown = set(values) - ROUTE_KEYS
        if unknown or "carrier" not in values:
            raise ValueError(
                f"a route needs 'carrier' and may have 'from', 'to_prefix': {dict(values)}"
            )
        return cls(
            carrier=str(values["carrier"]),
            from_numbers=frozenset(_strings(values.get("from", ()))),
            to_prefixes=tuple(_strings(values.get("to_prefix", ()))),
        )


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value]


class RoutingCarrier:
    name = "router"

    def __init__(self, carriers: Mapping[str, Carrier], routes: Sequence[Route], default: str):
        missing = ({route.carrier for route in routes} | {default}) - set(carriers)
        if missing:
            raise ValueError(f"routes name unknown carriers: {', '.join(sorted(missing))}")
        self.carriers = dict(carriers)
        self.routes = list(routes)
        self.default = default

    def pick(self, message: OutboundMessage) -> str:
        for route in self.routes:
            if route.matches(message):
                return route.carrier
        return self.default

    def bind(self, sink: CarrierSink) -> None:
        for carrier in self.carriers.values():
            carrier.bind(sink)

    async def send(self, message: OutboundMessage) -> Accepted:
        name = self.pick(message)
        accepted = await self.carriers[name].send(message)
        return Accepted(f"{name}:{accepted.carrier_ref}", accepted.receipt, accepted.poll_after)

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        name, _, ref = carrier_ref.partition(":")
        if name not in self.carriers:  # sent before routing was configured
            name, ref = self.pick(message), carrier_ref
        return await self.carriers[name].poll_receipt(message, ref)

    async def close(self) -> None:
        await asyncio.gather(*(carrier.close() for carrier in self.carriers.values()))


CarrierFactory = Callable[[str, Mapping[str, Any], Store, Settings], Carrier]


def _sandbox(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    return SandboxCarrier()


def _smpp(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    from trebuchet.server.carriers.refs import SqlRefs
    from trebuchet.server.carriers.smpp import SmppCarrier, SmppConfig

    return SmppCarrier(name, SmppConfig.from_mapping(name, values), SqlRefs(store))


def _http(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    from trebuchet.server.carriers.http_upstream import build_http_carrier

    return build_http_carrier(name, values, store, settings)


def _twilio(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    from trebuchet.server.carriers.twilio import build_twilio_carrier

    return build_twilio_carrier(name, values, store, settings)


def _bandwidth(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    from trebuchet.server.carriers.bandwidth import build_bandwidth_carrier

    return build_bandwidth_carrier(name, values, store, settings)


FACTORIES: dict[str, CarrierFactory] = {
    "sandbox": _sandbox,
    "smpp": _smpp,
    "catapult": _http,
    "http": _http,
    "twilio": _twilio,
    "bandwidth": _bandwidth,
}


def carrier_type(name: str, values: Mapping[str, Any]) -> str:
    kind = values.get("type")
    if kind not in FACTORIES:
        raise ValueError(f"carrier {name!r}: type must be one of {', '.join(FACTORIES)}")
    return str(kind)


def build_carrier(settings: Settings, store: Store) -> Carrier:
    """The engine's carrier, from ``carrier``, ``carriers`` and ``routes``."""
    routes = [Route.from_mapping(values) for values in settings.routes]
    configs = {SANDBOX: {"type": "sandbox"}, **settings.carriers}
    used = {settings.carrier} | {route.carrier for route in routes}
    missing = used - set(configs)
    if missing:
        known = ", ".join(sorted(configs))
        raise ValueError(
            f"unknown carrier {', '.join(sorted(missing))} (configure it under "
            f"[carriers.NAME]; known: {known})"
        )
    carriers = {
        name: FACTORIES[carrier_type(name, values)](name, values, store, settings)
        for name, values in configs.items()
        if name in used
    }
    if len(carriers) == 1:
        return carriers[settings.carrier]
    return RoutingCarrier(carriers, routes, settings.carrier)
