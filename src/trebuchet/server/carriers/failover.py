"""Each carrier's health behind a router: its failover policy and its circuit breaker.

A route may name several carriers in order (``carriers/routing.py``); the router tries
them one after the other.  What makes it move on is decided here, per carrier, from the
``[failover.NAME]`` settings (docs/carriers.md, Failover):

=====================  ========  ==========================================================
setting                default   meaning
=====================  ========  ==========================================================
``send_timeout``       0         seconds to wait for the carrier's answer (0: only the
                                 carrier's own timeouts)
``on_timeout``         failover  no answer in time (or :class:`Unanswered`): ``failover``
                                 hands the message to the next carrier (at least once),
                                 ``fail`` ends it in ``error`` (at most once)
``circuit_failures``   5         failures in a row that open the circuit (0: never opens)
``circuit_open_seconds``  30     how long an open circuit passes the carrier over before
                                 one trial send is let through (half-open)
=====================  ========  ==========================================================

The breaker is a plain state machine over a clock: *closed* lets every send through and
counts failures in a row (transient answers, timeouts, carrier errors; a permanent
refusal is an answer, so it counts as the carrier being up); at ``circuit_failures`` it
*opens* and the router passes the carrier over; after ``circuit_open_seconds`` it is
*half-open* and lets one trial through: success closes it, failure opens it again.  Its
state lives in the process: several processes each learn on their own, and each opens
after its own ``circuit_failures`` (docs/carriers.md says what that means).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from trebuchet.server import metrics

ON_TIMEOUT = ("failover", "fail")
DEFAULT_CIRCUIT_FAILURES = 5
DEFAULT_CIRCUIT_OPEN_SECONDS = 30.0


@dataclass(frozen=True)
class FailoverPolicy:
    """One carrier's ``[failover.NAME]`` settings."""

    send_timeout: float = 0.0
    on_timeout: str = "failover"
    circuit_failures: int = DEFAULT_CIRCUIT_FAILURES
    circuit_open_seconds: float = DEFAULT_CIRCUIT_OPEN_SECONDS

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> FailoverPolicy:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"failover of carrier {name!r}: unknown settings {', '.join(sorted(unknown))}"
                f" (known: {', '.join(sorted(known))})"
            )
        try:
            policy = cls(
                send_timeout=float(values.get("send_timeout", 0.0)),
                on_timeout=str(values.get("on_timeout", "failover")),
                circuit_failures=int(values.get("circuit_failures", DEFAULT_CIRCUIT_FAILURES)),
                circuit_open_seconds=float(
                    values.get("circuit_open_seconds", DEFAULT_CIRCUIT_OPEN_SECONDS)
                ),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"failover of carrier {name!r}: {exc}") from None
        if policy.on_timeout not in ON_TIMEOUT:
            raise ValueError(
                f"failover of carrier {name!r}: on_timeout must be one of {', '.join(ON_TIMEOUT)}"
            )
        if policy.send_timeout < 0 or policy.circuit_failures < 0:
            raise ValueError(
                f"failover of carrier {name!r}: send_timeout and circuit_failures are >= 0"
            )
        if policy.circuit_open_seconds <= 0:
            raise ValueError(f"failover of carrier {name!r}: circuit_open_seconds must be > 0")
        return policy


class Circuit(IntEnum):
    """A circuit's state; the value is what ``/metrics`` shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class CarrierHealth:
    """One carrier's circuit breaker and counters in this process."""

    def __init__(
        self,
        name: str,
        policy: FailoverPolicy,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.policy = policy
        self._clock = clock
        self.circuit = Circuit.CLOSED
        self.failures = 0  # in a row
        self.opened_at = 0.0
        self.last_failure = ""
        self._trial = False  # a half-open trial is under way
        self._publish()

    def allows(self) -> bool:
        """Whether a send may go to the carrier now; a half-open circuit lets one through."""
        if self.circuit == Circuit.CLOSED:
            return True
        if self.circuit == Circuit.OPEN:
            if self._clock() - self.opened_at < self.policy.circuit_open_seconds:
                return False
            self._set(Circuit.HALF_OPEN)
            self._trial = False
        if self._trial:
            return False
        self._trial = True
        return True

    def open_for(self) -> float:
        """Seconds until an open circuit lets a trial through (0 when not open)."""
        if self.circuit != Circuit.OPEN:
            return 0.0
        return max(0.0, self.policy.circuit_open_seconds - (self._clock() - self.opened_at))

    def answered(self, outcome: str) -> None:
        """The carrier answered (accepted or refused for good): it is up."""
        metrics.carrier_send(self.name, outcome)
        self._trial = False
        if self.failures or self.circuit != Circuit.CLOSED:  # else nothing changes
            self.failures = 0
            self._set(Circuit.CLOSED)

    def failed(self, outcome: str, reason: str) -> None:
        """No usable answer: a transient failure, a timeout, a carrier error."""
        metrics.carrier_send(self.name, outcome)
        self.failures += 1
        self.last_failure = reason[:200]
        threshold = self.policy.circuit_failures
        if self.circuit == Circuit.HALF_OPEN or (threshold and self.failures >= threshold):
            self._trial = False
            self.opened_at = self._clock()
            self._set(Circuit.OPEN)
        else:
            self._publish()

    def abandoned(self) -> None:
        """A send that ended without an outcome (cancelled): a trial may be tried again."""
        self._trial = False

    def skipped(self) -> None:
        metrics.carrier_send(self.name, "skipped")

    def describe(self) -> dict[str, Any]:
        """What the readiness answer shows for this carrier."""
        shown: dict[str, Any] = {"circuit": self.circuit.label, "failures": self.failures}
        if self.circuit == Circuit.OPEN:
            shown["retryInSeconds"] = round(self.open_for(), 3)
        if self.last_failure:
            shown["lastFailure"] = self.last_failure
        return shown

    def _set(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self._publish()

    def _publish(self) -> None:
        metrics.carrier_health(self.name, int(self.circuit), self.failures)
