"""camelCase -> snake_case conversion of response keys, as the original Python client did it.

A key gets an ``_`` before an upper-case ASCII letter when that letter (a) follows a
lower-case letter or a digit, or (b) is not the first character and is followed by a
lower-case letter; then the whole key is lower-cased. Runs of capitals stay one word
(``XMLParser`` -> ``xml_parser``), digits followed by a capital get an underscore
(``abc2Def`` -> ``abc2_def``). Only keys change: values, including strings nested in
lists, are returned untouched.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_BOUNDARY = re.compile(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))")


def to_snake_case(key: str) -> str:
    """Convert one camelCase key: ``to_snake_case("skipMMSCarrierValidation")``."""
    return _BOUNDARY.sub(r"_\1", key).lower()


# Responses repeat the same few dozen keys thousands of times.
_cached_snake_case = lru_cache(maxsize=1024)(to_snake_case)
_PLAIN = frozenset((str, int, float, bool, type(None)))


def snake_keys(value: Any) -> Any:
    """Return ``value`` with every object key converted, recursively through lists."""
    if isinstance(value, dict):
        return {
            (_cached_snake_case(k) if isinstance(k, str) else k): (
                v if type(v) in _PLAIN else snake_keys(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [item if type(item) in _PLAIN else snake_keys(item) for item in value]
    return value


def snake_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads(body, object_pairs_hook=snake_object)`` converts while decoding: the same
    result as :func:`snake_keys` on the decoded body, without building every object twice."""
    return {_cached_snake_case(key): value for key, value in pairs}
