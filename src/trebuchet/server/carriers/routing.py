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
    carriers = ["smsc", "relay"]   # in order: the next when one cannot take it

The first route whose conditions all hold picks the carrier, or the carriers in order.
:func:`build_carrier` gives the engine one :class:`~trebuchet.server.carriers.base.Carrier`:
the only one configured as is, or a :class:`RoutingCarrier` that delegates and prefixes
each ``carrier_ref`` with the carrier's name so that later polls find it again.

Failover (``carriers/failover.py`` holds each carrier's policy and circuit): the router
hands the message to the route's next carrier when one answers "try again later", does
not answer within its ``send_timeout`` (``on_timeout = "failover"``), or has its circuit
open; a permanent refusal is final.  When every carrier failed, the message is retried
later from the first one.  A carrier that already holds parts of the message (refs
recorded for it) keeps it: the rest is retried there, never sent by another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from trebuchet.server import metrics
from trebuchet.server.carriers.base import (
    Accepted,
    Carrier,
    CarrierSink,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TransientFailure,
    Unanswered,
)
from trebuchet.server.carriers.failover import CarrierHealth, FailoverPolicy
from trebuchet.server.carriers.refs import Refs, SqlRefs
from trebuchet.server.carriers.sandbox import SandboxCarrier
from trebuchet.server.config import Settings
from trebuchet.server.store import Store

log = logging.getLogger("trebuchet.carriers")
SANDBOX = "sandbox"
ROUTE_KEYS = {"carrier", "carriers", "from", "to_prefix"}
# A message passed over by every carrier (circuits open, no retry time given) waits this long.
NOTHING_TOOK_IT_RETRY = 1.0
UNANSWERED_CODE = 999


@dataclass(frozen=True)
class Route:
    carrier: str
    from_numbers: frozenset[str] = frozenset()
    to_prefixes: tuple[str, ...] = ()
    # Carriers tried after ``carrier``, in order (``carriers = ["a", "b"]``).
    fallbacks: tuple[str, ...] = ()

    @property
    def carriers(self) -> tuple[str, ...]:
        return (self.carrier, *self.fallbacks)

    def matches(self, message: OutboundMessage) -> bool:
        if self.from_numbers and message.from_number not in self.from_numbers:
            return False
        return not self.to_prefixes or message.to_number.startswith(self.to_prefixes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Route:
        unknown = set(values) - ROUTE_KEYS
        names = _strings(values.get("carriers", ()))
        if (
            unknown
            or ("carrier" in values) == ("carriers" in values)
            or ("carriers" in values and not names)
        ):
            raise ValueError(
                "a route needs 'carrier' (one name) or 'carriers' (names in order) and may"
                f" have 'from', 'to_prefix': {dict(values)}"
            )
        if "carrier" in values:
            names = [str(values["carrier"])]
        if len(set(names)) != len(names):
            raise ValueError(f"a route names a carrier twice: {dict(values)}")
        return cls(
            carrier=names[0],
            from_numbers=frozenset(_strings(values.get("from", ()))),
            to_prefixes=tuple(_strings(values.get("to_prefix", ()))),
            fallbacks=tuple(names[1:]),
        )


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value]


class RoutingCarrier:
    """Delegates each message to its route's carriers, in order (the module docstring)."""

    name = "router"

    def __init__(
        self,
        carriers: Mapping[str, Carrier],
        routes: Sequence[Route],
        default: str,
        *,
        policies: Mapping[str, FailoverPolicy] | None = None,
        refs: Refs | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        named = {name for route in routes for name in route.carriers} | {default}
        missing = named - set(carriers)
        if missing:
            raise ValueError(f"routes name unknown carriers: {', '.join(sorted(missing))}")
        self.carriers = dict(carriers)
        self.routes = list(routes)
        self.default = default
        self.refs = refs
        policies = policies or {}
        self.health = {
            name: CarrierHealth(name, policies.get(name, FailoverPolicy()), clock)
            for name in self.carriers
        }

    def chain(self, message: OutboundMessage) -> tuple[str, ...]:
        """The carriers that may send ``message``, in the order they are tried."""
        for route in self.routes:
            if route.matches(message):
                return route.carriers
        return (self.default,)

    def pick(self, message: OutboundMessage) -> str:
        return self.chain(message)[0]

    def bind(self, sink: CarrierSink) -> None:
        for carrier in self.carriers.values():
            carrier.bind(sink)

    async def send(self, message: OutboundMessage) -> Accepted:
        names = self.chain(message)
        if message.attempt > 1 and len(names) > 1:
            names = await self._holder(names, message)
        failures: list[TransientFailure] = []
        for position, name in enumerate(names):
            health = self.health[name]
            if not health.allows():
                health.skipped()
                failures.append(
                    TransientFailure(f"{name}: circuit open", health.open_for() or None)
                )
                continue
            try:
                accepted = await self._attempt(name, message)
            except TransientFailure as exc:
                failures.append(exc)
                if position + 1 < len(names):
                    if await self._holds_parts(name, message):
                        raise  # the rest of it is retried on this carrier, never elsewhere
                    metrics.carrier_failover(name)
                    log.info("%s: %s; %s goes to %s", message.id, exc.reason, message.id,
                             names[position + 1])  # fmt: skip
                continue
            return Accepted(
                f"{name}:{accepted.carrier_ref}", accepted.receipt, accepted.poll_after, name
            )
        raise _nobody_took_it(failures)

    async def _attempt(self, name: str, message: OutboundMessage) -> Accepted:
        """One carrier's send under its policy, its outcome told to its health."""
        health = self.health[name]
        policy = health.policy
        limit: asyncio.Timeout | None = None
        try:
            if policy.send_timeout:
                async with asyncio.timeout(policy.send_timeout) as limit:
                    accepted = await self.carriers[name].send(message)
            else:  # no timer to arm and cancel on every send
                accepted = await self.carriers[name].send(message)
        except asyncio.CancelledError:
            health.abandoned()
            raise
        except TimeoutError as exc:
            if limit is None or not limit.expired():
                self._carrier_bug(name, message, exc)
            reason = f"{name}: no answer within {policy.send_timeout:g} s"
            health.failed("timeout", reason)
            self._unanswered(name, Unanswered(reason))
        except Unanswered as exc:
            health.failed("unanswered", exc.reason)
            self._unanswered(name, exc)
        except TransientFailure as exc:
            health.failed("transient", exc.reason)
            raise TransientFailure(f"{name}: {exc.reason}", exc.retry_after) from exc
        except PermanentFailure:
            health.answered("permanent")
            raise
        except Exception as exc:  # a carrier bug must not lose the message
            self._carrier_bug(name, message, exc)
        health.answered("accepted")
        return accepted

    def _unanswered(self, name: str, failure: Unanswered) -> NoReturn:
        """No answer: maybe taken.  ``failover`` passes it on, ``fail`` ends it."""
        if self.health[name].policy.on_timeout == "fail":
            raise PermanentFailure(
                f"{failure.reason}; not sent again (on_timeout = fail)", UNANSWERED_CODE
            ) from failure
        raise Unanswered(failure.reason, failure.retry_after) from failure

    def _carrier_bug(self, name: str, message: OutboundMessage, exc: BaseException) -> NoReturn:
        log.exception("carrier %s failed on %s", name, message.id)
        reason = f"{name}: {type(exc).__name__}: {exc}"
        self.health[name].failed("error", reason)
        raise TransientFailure(reason) from exc

    async def _holder(self, names: tuple[str, ...], message: OutboundMessage) -> tuple[str, ...]:
        """On a retry: only the carrier that holds parts of the message, if one does."""
        for name in names:
            if await self._holds_parts(name, message):
                return (name,)
        return names

    async def _holds_parts(self, name: str, message: OutboundMessage) -> bool:
        """Whether ``name`` already took parts of the message (a multipart SMPP send that
        failed half-way): then another carrier must not send the whole of it again."""
        if self.refs is None:
            return False
        return bool(await self.refs.sent_parts(name, message.id))

    async def poll_receipt(self, message: OutboundMessage, carrier_ref: str) -> Receipt | None:
        name, _, ref = carrier_ref.partition(":")
        if name not in self.carriers:  # sent before routing was configured
            name, ref = self.pick(message), carrier_ref
        return await self.carriers[name].poll_receipt(message, ref)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each carrier's health in this process, for the readiness answer."""
        return {name: health.describe() for name, health in self.health.items()}

    async def close(self) -> None:
        await asyncio.gather(*(carrier.close() for carrier in self.carriers.values()))


def _nobody_took_it(failures: Sequence[TransientFailure]) -> TransientFailure:
    """The failure of a send no carrier took: retried when the soonest says."""
    waits = [f.retry_after for f in failures if f.retry_after is not None]
    reason = "; ".join(f.reason for f in failures)
    if len(failures) == 1 and not isinstance(failures[0], Unanswered):
        return failures[0]
    kind = Unanswered if any(isinstance(f, Unanswered) for f in failures) else TransientFailure
    return kind(reason, min(waits) if waits else NOTHING_TOOK_IT_RETRY)


CarrierFactory = Callable[[str, Mapping[str, Any], Store, Settings], Carrier]


def _sandbox(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
    return SandboxCarrier()


def _smpp(name: str, values: Mapping[str, Any], store: Store, settings: Settings) -> Carrier:
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


def build_carrier(
    settings: Settings, store: Store, *, clock: Callable[[], float] = time.monotonic
) -> Carrier:
    """The engine's carrier, from ``carrier``, ``carriers``, ``routes`` and ``failover``;
    ``clock`` (seconds) drives the circuit breakers."""
    routes = [Route.from_mapping(values) for values in settings.routes]
    configs = {SANDBOX: {"type": "sandbox"}, **settings.carriers}
    used = {settings.carrier} | {name for route in routes for name in route.carriers}
    missing = (used | set(settings.failover)) - set(configs)
    if missing:
        known = ", ".join(sorted(configs))
        raise ValueError(
            f"unknown carrier {', '.join(sorted(missing))} (configure it under "
            f"[carriers.NAME]; known: {known})"
        )
    policies = {
        name: FailoverPolicy.from_mapping(name, values)
        for name, values in settings.failover.items()
    }
    carriers = {
        name: FACTORIES[carrier_type(name, values)](name, values, store, settings)
        for name, values in configs.items()
        if name in used
    }
    if len(carriers) == 1 and not policies:
        return carriers[settings.carrier]
    return RoutingCarrier(
        carriers, routes, settings.carrier, policies=policies, refs=SqlRefs(store), clock=clock
    )
