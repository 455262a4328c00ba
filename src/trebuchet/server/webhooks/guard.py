"""Which addresses callbacks and media fetches may reach.

Public addresses always; loopback when allowed (sandbox mode, the default, so local
development works); private, link-local, multicast, reserved and unspecified addresses
only when the operator allows them.  Checked at delivery time, on the addresses a name
actually resolves to, inside the HTTP client's resolver, so a name cannot be switched to
a private address between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(OSError):
    """The destination resolves to an address this deployment may not contact."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool
    allow_private: bool

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:
            return self.allow_loopback or self.allow_private
        if (
            address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            return self.allow_private
        return True

    def check(self, host: str, addresses: list[str]) -> None:
        for address in addresses:
            if not self.permits(ipaddress.ip_address(address.split("%", 1)[0])):
                raise AddressRefused(f"{host} resolves to {address}, which callbacks may not reach")

    def literal(self, host: str) -> IPAddress | None:
        try:
            return ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None

    async def check_url(self, url: str) -> None:
        """Resolve the URL's host and raise :class:`AddressRefused` if it is off limits."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = self.literal(host)
        if literal is not None:
            self.check(host, [str(literal)])
            return
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, parts.port or 0, type=socket.SOCK_STREAM)
        self.check(host, [str(info[4][0]) for info in infos])
