"""Carrier references: the network's id for each message (or part) a carrier sent.

Receipts name the network's id, not ours, and may come hours later, after a restart, to
another process: the mapping is kept in the database (``carrier_refs``).  A message sent
in several parts has one row per part; :func:`aggregate` decides, as the parts' receipts
come in, when the message has its receipt and which code it gets:

* ``first``: the first receipt of any part;
* ``last``: once every part has one, the one that came last;
* ``all``: once every part has one, delivered only if every part was, else the code of
  the first failed part.

:class:`SqlRefs` keeps them in the store (``store/carrier_refs.py``, which holds the SQL);
:class:`MemoryRefs` keeps the same contract in memory (for a carrier without a database,
and tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from trebuchet.server.carriers.codes import DELIVERED
from trebuchet.server.domain.states import MessageState
from trebuchet.server.store import Store
from trebuchet.server.store.carrier_refs import Part

__all__ = ["RULES", "MemoryRefs", "Part", "Refs", "SqlRefs", "aggregate"]

RULES = ("all", "first", "last")


def aggregate(rule: str, codes: Mapping[int, int | None], part: int, code: int) -> int | None:
    """The message's receipt code once part ``part`` reports ``code``, or None (not yet).

    ``codes`` holds every part's code before this report (None: no receipt yet).  A part
    that already had a receipt reports nothing new.
    """
    if codes.get(part) is not None:
        return None
    after = {**codes, part: code}
    if rule == "first":
        return code if all(value is None for value in codes.values()) else None
    if any(value is None for value in after.values()):
        return None
    if rule == "last":
        return code
    failed = [after[number] for number in sorted(after) if after[number] != DELIVERED]
    return failed[0] if failed else DELIVERED


class Refs(Protocol):
    async def record(self, carrier: str, parts: Sequence[Part]) -> None: ...

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        """Refs of the parts of ``message_id`` already accepted, by part number."""
        ...

    async def find(self, carrier: str, ref: str) -> Part | None: ...

    async def message_state(self, message_id: str) -> str | None: ...

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        """Record a part's receipt; the message's receipt code when it is now decided."""
        ...


class MemoryRefs:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Part] = {}
        self._codes: dict[tuple[str, str], int] = {}
        self.states: dict[str, str] = {}

    async def record(self, carrier: str, parts: Sequence[Part]) -> None:
        for part in parts:
            self._rows[(carrier, part.ref)] = part
            self._codes.pop((carrier, part.ref), None)

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        return {
            row.part: row.ref
            for (name, _), row in self._rows.items()
            if name == carrier and row.message_id == message_id
        }

    async def find(self, carrier: str, ref: str) -> Part | None:
        return self._rows.get((carrier, ref))

    async def message_state(self, message_id: str) -> str | None:
        return self.states.get(message_id, MessageState.SENT)

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        row = self._rows.get((carrier, ref))
        if row is None:
            return None
        siblings = {
            other.part: self._codes.get((name, other.ref))
            for (name, _), other in self._rows.items()
            if name == carrier and other.message_id == row.message_id
        }
        self._codes.setdefault((carrier, ref), code)
        return aggregate(rule, siblings, row.part, code)


class SqlRefs:
    """The store's carrier references (``store.carrier_refs``) under the :class:`Refs`
    contract: the store records, :func:`aggregate` decides."""

    def __init__(self, store: Store):
        self._refs = store.carrier_refs

    async def record(self, carrier: str, parts: Sequence[Part]) -> None:
        await self._refs.record(carrier, parts)

    async def sent_parts(self, carrier: str, message_id: str) -> dict[int, str]:
        return await self._refs.sent_parts(carrier, message_id)

    async def find(self, carrier: str, ref: str) -> Part | None:
        return await self._refs.find(carrier, ref)

    async def message_state(self, message_id: str) -> str | None:
        return await self._refs.message_state(message_id)

    async def report(self, carrier: str, ref: str, code: int, rule: str) -> int | None:
        found = await self._refs.report(carrier, ref, code)
        return None if found is None else aggregate(rule, found.codes, found.part, code)
