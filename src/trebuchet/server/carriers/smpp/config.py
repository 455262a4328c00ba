"""The configuration of one SMPP carrier (a ``[carriers.NAME]`` table with ``type = "smpp"``).

Every field has a default except ``host``, ``system_id`` and ``password``; docs/carriers.md
describes each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

BIND_MODES = ("transceiver", "transmitter_receiver")
LONG_MESSAGES = ("udh", "sar", "payload")
RECEIPT_PARTS = ("all", "first", "last")
UNANSWERED = ("retry", "fail")


@dataclass(frozen=True)
class SmppConfig:
    host: str
    system_id: str
    password: str
    port: int = 2775
    system_type: str = ""
    # "transceiver": one bind for both ways; "transmitter_receiver": a pair of binds.
    bind_mode: str = "transceiver"
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    # Binds (sessions) kept open; each takes up to ``window`` unanswered submit_sm.
    sessions: int = 1
    window: int = 10
    service_type: str = ""
    # TON/NPI of +E.164 numbers (international, ISDN) and of other addresses (short codes).
    international_ton: int = 1
    international_npi: int = 1
    other_ton: int = 0
    other_npi: int = 1
    # 1: ask for a delivery receipt on every submit_sm (receipts nobody asked for are dropped).
    registered_delivery: int = 1
    # Long texts: "udh" (concatenation header), "sar" (sar_* TLVs), "payload" (one
    # submit_sm with message_payload).
    long_messages: str = "udh"
    # Receipts of a multipart message: "all" (every part, worst wins), "first" (the first
    # receipt to arrive), "last" (every part, the last to arrive wins).
    receipt_parts: str = "all"
    # A submit_sm whose response never came (link lost, timeout): "retry" sends it again
    # (at least once), "fail" marks the message failed (at most once).
    unanswered: str = "retry"
    connect_timeout: float = 10.0
    response_timeout: float = 10.0
    # How long send() waits for a bound session and a free window slot in all.
    submit_timeout: float = 60.0
    enquire_link_interval: float = 30.0
    rebind_initial: float = 1.0
    rebind_max: float = 60.0
    # ESME_RTHROTTLED / ESME_RMSGQFUL: pause the session this long (doubling), resend.
    throttle_initial: float = 0.5
    throttle_max: float = 30.0
    throttle_retries: int = 8
    # How long a receipt waits for its message to be recorded as sent before it is applied.
    receipt_wait: float = 30.0
    # Parts of a concatenated inbound message are dropped when the rest has not come by then.
    inbound_part_timeout: float = 600.0

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any]) -> SmppConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known - {"type"}
        if unknown:
            raise ValueError(f"carrier {name!r}: unknown settings {', '.join(sorted(unknown))}")
        missing = {"host", "system_id", "password"} - set(values)
        if missing:
            raise ValueError(f"carrier {name!r}: missing {', '.join(sorted(missing))}")
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.check(name)
        return config

    def check(self, name: str) -> None:
        choices = {
            "bind_mode": BIND_MODES,
            "long_messages": LONG_MESSAGES,
            "receipt_parts": RECEIPT_PARTS,
            "unanswered": UNANSWERED,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"carrier {name!r}: {key} must be one of {', '.join(allowed)}")
        if self.sessions < 1 or self.window < 1:
            raise ValueError(f"carrier {name!r}: sessions and window must be at least 1")
