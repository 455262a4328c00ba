"""The typed message record: one row mapping for every writer, media decoded once, states
read back as their enums, on both stores."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select

from tests.conftest import Harness
from trebuchet.server.api.message_input import MessageIn, new_message
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.states import DeliveryState, Direction, MessageState, ReceiptRequest
from trebuchet.server.store import InsertJob
from trebuchet.server.store import tables as t
from trebuchet.server.store.message_rows import message_from_row, message_to_row

NOW = 1_700_000_000_000_000


def _mms(user_id: str) -> Message:
    return Message(
        id="m-record",
        user_id=user_id,
        from_number="+15550001111",
        to_number="+15550002222",
        direction=Direction.OUT,
        text="look",
        media=("https://example.com/a.png", "https://example.com/b é.png"),
        state=MessageState.ERROR,
        time_us=NOW,
        segment_count=1,
        receipt_requested=ReceiptRequest.NONE,
        delivery_state=DeliveryState.NOT_DELIVERED,
        delivery_code=751,
        delivery_description="Destination Rejected Message too large",
        due_us=None,
        attempts=2,
        carrier_ref="ref-1",
    )


def test_the_row_has_exactly_the_columns_of_the_messages_table() -> None:
    row = message_to_row(_mms("u-1"))
    # ``keyword`` is written only on keywords and their auto-replies.
    assert list(row) == [column.name for column in t.messages.columns if column.name != "keyword"]
    assert row["media"] == '["https://example.com/a.png","https://example.com/b é.png"]'
    assert message_to_row(msgspec.structs.replace(_mms("u-1"), media=()))["media"] is None


def test_intake_builds_the_record_with_typed_fields() -> None:
    message = new_message(
        MessageIn(from_="+15550001111", to="+15550002222", text="hi", media="https://x.example/a",
                  receiptRequested="NONE"),
        "u-1",
        NOW,
    )  # fmt: skip
    assert message.media == ("https://x.example/a",)
    assert message.receipt_requested is ReceiptRequest.NONE
    assert message.state is MessageState.QUEUED and message.direction is Direction.OUT
    assert message.due_us == NOW and message.delivery_state is None


async def test_a_stored_record_reads_back_equal_with_its_enums(harness: Harness) -> None:
    creds = await harness.create_user()
    message = _mms(creds.user_id)
    await harness.store.messages.insert(InsertJob([message_to_row(message)]))
    async with harness.store.read() as conn:
        rows = (await conn.execute(select(t.messages))).mappings().all()
    stored: dict[str, Any] = dict(rows[0])
    assert isinstance(stored["media"], str)  # the store keeps JSON text
    record = message_from_row(stored)
    assert record == message
    assert type(record.state) is MessageState and type(record.direction) is Direction
    assert type(record.delivery_state) is DeliveryState
    assert type(record.receipt_requested) is ReceiptRequest
    assert record.wants_receipts is False  # an MMS has no receipts
