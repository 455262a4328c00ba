"""What kind of address a host is: global, loopback or private; no I/O.

Only globally routable addresses are ``global``.  Python's ``is_global`` is the first test,
but its tables differ between Python versions (3.11 calls ``fec0::/10`` global), so IPv6
must also be global unicast (``2000::/3``) and a few ranges are refused by name.  IPv4
written inside IPv6 (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) is
judged by the IPv4 address it carries.  ``loopback`` is everything that reaches this
machine: ``127.0.0.0/8``, ``::1``, and the unspecified ``0.0.0.0/8`` and ``::``.  Every
other address is ``private``: RFC 1918, shared (``100.64.0.0/10``), link-local (cloud
metadata), unique-local, documentation, multicast, reserved.

Hosts are read the way a resolver reads them: ``127.1``, ``2130706433``, ``0177.0.0.1``
and ``0x7f.0.0.1`` are all ``127.0.0.1`` (``inet_aton``), so no spelling slips past.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Literal
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Kind = Literal["global", "loopback", "private"]

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NOT_GLOBAL = (
    ipaddress.IPv4Network("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv4Network("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    ipaddress.IPv6Network("2001::/23"),  # IETF protocol assignments, Teredo
    ipaddress.IPv6Network("2001:db8::/32"),  # documentation
    ipaddress.IPv6Network("3fff::/20"),  # documentation
)
_LOCALHOST = "localhost"


def address_kind(address: IPAddress) -> Kind:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_kind(embedded)
    if address.is_loopback or address.is_unspecified or address in _THIS_NETWORK:
        return "loopback"
    if not address.is_global or address.is_multicast:
        return "private"
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "private"
    if any(address in network for network in _NOT_GLOBAL):
        return "private"
    return "global"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` (a URL's host) names without a DNS lookup, in any spelling."""
    text = _normal(host).strip("[]")
    if "%" in text:  # an IPv6 zone: fe80::1%eth0
        text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return _inet_aton(text.removesuffix("."))


def is_localhost_name(host: str) -> bool:
    """``localhost`` and names under it, which resolve to loopback (RFC 6761)."""
    name = _normal(host).removesuffix(".")
    return name == _LOCALHOST or name.endswith("." + _LOCALHOST)


def _normal(host: str) -> str:
    # Percent-escapes and full-width digits become what a client library would send.
    return unicodedata.normalize("NFKC", unquote(host)).lower()


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 as ``inet_aton`` reads it: 1 to 4 parts, each decimal, ``0x`` hex or ``0`` octal;
    the last part fills the bytes that are left."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_number(part) for part in parts]
    if any(value is None for value in values):
        return None
    numbers = [value for value in values if value is not None]
    *leading, last = numbers
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(numbers))):
        return None
    result = last
    for index, value in enumerate(leading):
        result |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(result)


def _number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:] or "0", 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None
