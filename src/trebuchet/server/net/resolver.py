"""Name resolution that refuses the addresses the outbound policy forbids."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from trebuchet.server.net.guard import AddressPolicy


class GuardedResolver(AbstractResolver):
    """The default resolver, refusing addresses the policy forbids."""

    def __init__(self, policy: AddressPolicy):
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._policy.check(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()
