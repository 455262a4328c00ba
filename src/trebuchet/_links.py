"""``Link`` header parsing (RFC 8288), tolerant of what the original client accepted.

The original client split the header on ``,`` and ``;`` and only understood a value spelt
exactly ``<url>; rel="next"``. This parser reads the general form instead: several
link-values, parameters in any order, quoted or bare values, ``rel`` lists such as
``rel="next last"``, and commas or semicolons inside ``<...>``.

A next link is followed only within the origin of ``api_endpoint`` (``origin``), so the
credentials sent with every request never reach another host, port or scheme.
"""

from __future__ import annotations

import httpx

_SEPARATORS = ",;"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Split a ``Link`` header into ``(url, params)`` pairs; parameter names are lower-cased.

    >>> parse_link_header('<https://h/p?a=1>; rel="next", <https://h/p>; rel=first')
    [('https://h/p?a=1', {'rel': 'next'}), ('https://h/p', {'rel': 'first'})]
    """
    links: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] == "<":
            end = value.find(">", i + 1)
            if end < 0:
                break
            url = value[i + 1 : end].strip()
            i = end + 1
        else:
            # Not RFC 8288, but the original client accepted a bare URL here too.
            end = i
            while end < n and value[end] not in _SEPARATORS:
                end += 1
            url = value[i:end].strip()
            i = end
        params: dict[str, str] = {}
        while True:
            while i < n and value[i].isspace():
                i += 1
            if i >= n or value[i] != ";":
                break
            i += 1
            name, i = _read_until(value, i, "=;,")
            param = ""
            if i < n and value[i] == "=":
                param, i = _read_value(value, i + 1)
            name = name.strip().lower()
            if name and name not in params:
                params[name] = param
        while i < n and value[i] != ",":
            i += 1  # skip junk up to the next link-value
        if url:
            links.append((url, params))
    return links


def find_next_link(value: str | None) -> str | None:
    """The URL of the first link whose ``rel`` includes ``next``, or ``None``.

    >>> find_next_link('<https://h/messages?size=2&sortKeyLT=17>; rel="next"')
    'https://h/messages?size=2&sortKeyLT=17'
    """
    if not value:
        return None
    for url, params in parse_link_header(value):
        if "next" in params.get("rel", "").lower().split():
            return url
    return None


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in and the host
    lower-cased; compared with ``==`` to tell whether two URLs share an origin.

    >>> origin(httpx.URL("HTTPS://API.Example.test:443/v1")) == origin(
    ...     httpx.URL("https://api.example.test/v1/users"))
    True
    """
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(scheme)
    return scheme, url.host.lower(), port


def _read_until(value: str, i: int, stops: str) -> tuple[str, int]:
    start = i
    while i < len(value) and value[i] not in stops:
        i += 1
    return value[start:i], i


def _read_value(value: str, i: int) -> tuple[str, int]:
    n = len(value)
    while i < n and value[i].isspace():
        i += 1
    if i < n and value[i] == '"':
        out: list[str] = []
        i += 1
        while i < n and value[i] != '"':
            if value[i] == "\\" and i + 1 < n:
                i += 1
            out.append(value[i])
            i += 1
        return "".join(out), min(i + 1, n)
    raw, i = _read_until(value, i, _SEPARATORS)
    return raw.strip(), i
