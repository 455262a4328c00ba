"""Which addresses callbacks and media fetches may reach: one policy for both.

Globally routable addresses always (see :mod:`.addresses`); loopback only with
``outbound_allow_loopback``; every other non-global range only with
``outbound_allow_private``.  Nothing else, the carrier in particular, changes it.

A URL is checked twice.  When it is accepted (a send, an application), a host written as
an address in any spelling, or a ``localhost`` name, is judged as written.  When it is
contacted, the addresses a name actually resolves to are judged inside the HTTP client's
resolver, so a DNS answer cannot change between the check and the connection; every
redirect is checked the same way.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from trebuchet.server.config import Settings
from trebuchet.server.net.addresses import (
    IPAddress,
    Kind,
    address_kind,
    host_address,
    is_localhost_name,
)

__all__ = ["SETTING_FOR", "AddressPolicy", "AddressRefused", "IPAddress"]

# The setting that lets outbound requests reach each kind of address.
SETTING_FOR: dict[Kind, str] = {
    "loopback": "outbound_allow_loopback",
    "private": "outbound_allow_private",
}


class AddressRefused(OSError):
    """The destination is an address this deployment may not contact."""

    def __init__(self, host: str, address: str, kind: Kind):
        self.host = host
        self.address = address
        self.kind = kind
        self.setting = SETTING_FOR.get(kind, "")
        shown = address if host.strip("[]") == address else f"{host} ({address})"
        super().__init__(
            f"{shown} is a {kind} address that outbound requests may not reach"
            f" (the setting {self.setting} allows it)"
        )


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        """The one policy of a deployment.  ``callback_allow_private`` is the deprecated
        spelling of both settings together, which is what it used to allow."""
        legacy = settings.callback_allow_private
        return cls(
            allow_loopback=settings.outbound_allow_loopback or legacy,
            allow_private=settings.outbound_allow_private or legacy,
        )

    def describe(self) -> str:
        allowed = ["global"]
        allowed += ["loopback"] if self.allow_loopback else []
        allowed += ["private"] if self.allow_private else []
        return f"outbound requests may reach {', '.join(allowed)} addresses"

    def permits(self, address: IPAddress) -> bool:
        kind = address_kind(address)
        if kind == "loopback":
            return self.allow_loopback
        if kind == "private":
            return self.allow_private
        return True

    def check(self, host: str, addresses: list[str]) -> None:
        """Raise :class:`AddressRefused` unless every address ``host`` resolved to is allowed."""
        for text in addresses:
            address = host_address(text)
            if address is None:
                raise AddressRefused(host, text, "private")
            if not self.permits(address):
                raise AddressRefused(host, str(address), address_kind(address))

    def literal(self, host: str) -> IPAddress | None:
        """The address ``host`` is written as, in any spelling; ``None`` for a name."""
        return host_address(host)

    def check_host(self, host: str) -> None:
        """Judge ``host`` as written: an address, or a ``localhost`` name.  Other names
        pass here and are judged on what they resolve to."""
        address = self.literal(host)
        if address is not None:
            self.check(host, [str(address)])
        elif is_localhost_name(host) and not self.allow_loopback:
            raise AddressRefused(host, "127.0.0.1", "loopback")

    async def check_url(self, url: str) -> None:
        """Resolve the URL's host and raise :class:`AddressRefused` if it is off limits."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        self.check_host(host)
        if self.literal(host) is not None:
            return
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, parts.port or 0, type=socket.SOCK_STREAM)
        self.check(host, [str(info[4][0]) for info in infos])
