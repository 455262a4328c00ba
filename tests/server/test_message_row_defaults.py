"""A newly accepted message's row leaves the delivery bookkeeping to the table's defaults,
and reads back the same as a row that names every column, on both stores."""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from tests.conftest import Harness
from trebuchet.server.api.message_input import MessageIn, new_message
from trebuchet.server.domain.keywords import Keyword
from trebuchet.server.domain.message import Message
from trebuchet.server.store import InsertJob
from trebuchet.server.store import tables as t
from trebuchet.server.store.message_rows import message_from_row, message_to_row

NOW = 1_700_000_000_000_000
BOOKKEEPING = {
    "lease_owner", "lease_until_us", "attempts", "carrier_ref", "slot_us", "origin_id",
    "send_at_us", "expires_us", "crashes", "carrier", "claims",
}  # fmt: skip
# Left out when NULL, whatever the bookkeeping: set only on keywords and auto-replies.
KEYWORD = "keyword"


def _accepted(user_id: str, index: int) -> Message:
    text = f"code {index}"
    return new_message(MessageIn(from_="+15550001111", to="+15550002222", text=text), user_id,
                       NOW + index)  # fmt: skip


def test_a_new_message_row_leaves_the_bookkeeping_columns_out() -> None:
    row = message_to_row(_accepted("u-1", 0))
    assert BOOKKEEPING.isdisjoint(row)
    assert set(row) == {column.name for column in t.messages.columns} - BOOKKEEPING - {KEYWORD}


def test_a_keyword_is_written_only_when_set() -> None:
    marked = msgspec.structs.replace(_accepted("u-1", 0), keyword=Keyword.STOP)
    assert message_to_row(marked)[KEYWORD] == "stop"


def test_any_bookkeeping_value_set_keeps_every_column() -> None:
    fresh = _accepted("u-1", 0)
    changes = [
        ("attempts", 1), ("origin_id", "m-1"), ("slot_us", NOW),
        ("lease_owner", "w-1"), ("lease_until_us", NOW), ("carrier_ref", "r"),
        ("send_at_us", NOW + 60), ("expires_us", NOW + 120),
        ("crashes", 1), ("carrier", "smsc"), ("claims", 1),
    ]  # fmt: skip
    for column, value in changes:
        row = message_to_row(msgspec.structs.replace(fresh, **{column: value}))
        assert list(row) == [c.name for c in t.messages.columns if c.name != KEYWORD], column
        assert row[column] == value


async def test_rows_of_both_shapes_in_one_batch_read_back_as_their_records(
    harness: Harness,
) -> None:
    creds = await harness.create_user()
    fresh = _accepted(creds.user_id, 1)
    copied = msgspec.structs.replace(_accepted(creds.user_id, 2), origin_id="m-origin", attempts=3)
    await harness.store.messages.insert(InsertJob([message_to_row(fresh), message_to_row(copied)]))
    async with harness.store.read() as conn:
        rows = (await conn.execute(select(t.messages).order_by(t.messages.c.time_us))).mappings()
        records = [message_from_row(row) for row in rows.all()]
    assert records == [fresh, copied]
    assert records[0].attempts == 0 and records[0].origin_id is None
