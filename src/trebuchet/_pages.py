"""Decoding a page of messages fast, with the same result as the general decoder.

A page of 1000 messages is about half a megabyte of JSON.  Decoded by the standard
library with every key converted on the way, it costs several times what the server
spends producing it.  Here the page is decoded by msgspec into structs that know every
message property under its wire name and hold it under its snake_case name, then turned
into snake_case dicts (C code throughout): properties the server left out stay out.
A page holding anything else (a property this version does not know, a value that is
not an object) is answered ``None``, and the caller decodes it the general way, so
nothing a server sends is ever dropped or left unconverted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from ._casing import to_snake_case
from ._message_fields import MESSAGE_PROPERTIES

# No property of a message holds an object, whose keys would need converting too.
_Scalar = str | int | float | bool | None
_Value = _Scalar | list[_Scalar] | msgspec.UnsetType
_SNAKE_NAMES = {name: to_snake_case(name) for name in MESSAGE_PROPERTIES}
# Decoded from the wire's names into snake_case attributes; an unknown property fails.
_WireMessage: Any = msgspec.defstruct(
    "_WireMessage",
    [(snake, _Value, msgspec.UNSET) for snake in _SNAKE_NAMES.values()],
    rename={snake: wire for wire, snake in _SNAKE_NAMES.items()},
    forbid_unknown_fields=True,
    gc=False,  # scalars and lists of scalars: no cycles, nothing for the collector to do
)
# The same attributes (values already checked), encoded under their own (snake_case)
# names; unset ones are left out.
_SnakeMessage: Any = msgspec.defstruct(
    "_SnakeMessage",
    [(snake, Any, msgspec.UNSET) for snake in _SNAKE_NAMES.values()],
    gc=False,
)
_SNAKE_PAGE: Any = list.__class_getitem__(_SnakeMessage)
_decoder = msgspec.json.Decoder(list.__class_getitem__(_WireMessage))


def _hand_over(messages: list[Any]) -> list[Any]:
    """The decoded messages as ``_SnakeMessage``: the two types differ only in the names
    they are encoded under, so each object changes type in place instead of being copied
    (a copy per message cost about a third of the page's decoding)."""
    for message in messages:
        message.__class__ = _SnakeMessage
    return messages


def _copy_over(messages: list[Any]) -> list[Any]:
    copied: list[Any] = msgspec.convert(messages, _SNAKE_PAGE, from_attributes=True)
    return copied


def _pick_conversion() -> Callable[[list[Any]], list[Any]]:
    """Change types in place where this Python and msgspec allow it, else copy."""
    try:
        probe = _hand_over([_WireMessage(id="m-probe")])
    except TypeError:
        return _copy_over
    return _hand_over if msgspec.to_builtins(probe) == [{"id": "m-probe"}] else _copy_over


_to_snake_messages = _pick_conversion()


def decode_message_page(content: bytes) -> Iterator[dict[str, Any]] | None:
    """The page's messages as snake_case dicts, each made as it is reached, or ``None``
    when the page is not a plain page (checked before anything is answered).

    Making each dict when it is asked for, rather than all of the page's at once, keeps
    one page's dicts from being alive together: the garbage collector otherwise walks
    every one of them several times and moves them to its oldest generation, which costs
    more than making them.
    """
    try:
        wire = _decoder.decode(content)
    except msgspec.MsgspecError:  # not JSON, not an array of messages, or unknown keys
        return None
    return map(msgspec.to_builtins, _to_snake_messages(wire))
