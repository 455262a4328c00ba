"""The message list's filters, read from query parameters and checked once for every
reader: ``GET /messages``, the export download and ``trebuchet export``.

Each refusal is the spec's ``invalid-parameter`` error naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

from trebuchet.server.api import validation as v
from trebuchet.server.domain import errors
from trebuchet.server.domain.states import DeliveryState, Direction, MessageState
from trebuchet.server.domain.times import parse_filter_time
from trebuchet.server.store import MessageFilter

DIRECTIONS = tuple(Direction)
STATES = tuple(MessageState)
DELIVERY_STATES = tuple(DeliveryState)
# The filters, in the order a next-page link repeats them.
FILTER_PARAMS = ("from", "to", "fromDateTime", "toDateTime", "direction", "state", "deliveryState")

Query = Mapping[str, str]


def query_value(query: Query, name: str) -> str | None:
    """The parameter's value; an empty one counts as absent."""
    value = query.get(name)
    return None if value is None or value == "" else value


def time_filter(query: Query, name: str, *, upper: bool) -> int | None:
    value = query_value(query, name)
    if value is None:
        return None
    try:
        micros = parse_filter_time(value)
    except ValueError:
        raise errors.invalid_parameter(
            name, f"must be a date like 2014-05-25 or 2014-05-25 12:00:00.000, not '{value}'"
        ) from None
    # Inclusive at millisecond precision: an upper bound covers its whole millisecond.
    return micros + 999 if upper else micros


def enum_filter(query: Query, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query_value(query, name)
    if value is not None and value not in allowed:
        raise errors.invalid_parameter(
            name, f"must be one of the following values: {', '.join(allowed)}"
        )
    return value


def number_filter(query: Query, name: str) -> str | None:
    value = query_value(query, name)
    if value is None:
        return None
    try:
        return v.phone_number("message", name, value, short_code=True)
    except errors.ApiError:
        raise errors.invalid_parameter(name, f"must be an E.164 number, not '{value}'") from None


def message_filter(query: Query) -> MessageFilter:
    """The filters of :data:`FILTER_PARAMS` in ``query``; raises ``ApiError``."""
    return MessageFilter(
        from_number=number_filter(query, "from"),
        to_number=number_filter(query, "to"),
        from_us=time_filter(query, "fromDateTime", upper=False),
        to_us=time_filter(query, "toDateTime", upper=True),
        direction=enum_filter(query, "direction", DIRECTIONS),
        state=enum_filter(query, "state", STATES),
        delivery_state=enum_filter(query, "deliveryState", DELIVERY_STATES),
    )
