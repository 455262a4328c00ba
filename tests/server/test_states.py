"""The states as one set of enums: the spec's values, the API's description of them, and
rows that keep plain strings."""

from __future__ import annotations

import json

from trebuchet.server.api.openapi import openapi_document
from trebuchet.server.domain.states import (
    DeliveryState,
    Direction,
    EventState,
    MessageState,
    NumberState,
    ReceiptRequest,
)


def test_each_enum_holds_the_values_the_spec_lists() -> None:
    # The spec's five, then the two that scheduling and cancelling add.
    assert list(MessageState) == [
        "received", "queued", "sending", "sent", "error", "scheduled", "canceled",
    ]  # fmt: skip
    assert list(Direction) == ["in", "out"]
    assert list(DeliveryState) == ["waiting", "delivered", "not-delivered"]
    assert list(ReceiptRequest) == ["none", "all", "error"]
    assert list(EventState) == ["pending", "delivered", "failed"]
    # The spec lists enabled and released; available is the inventory's own (nobody's yet).
    assert list(NumberState) == ["available", "enabled", "released"]


def test_the_openapi_document_offers_exactly_the_enum_values() -> None:
    message = openapi_document()["components"]["schemas"]["Message"]["properties"]
    assert message["state"]["enum"] == list(MessageState)
    assert message["direction"]["enum"] == list(Direction)
    assert message["deliveryState"]["enum"] == list(DeliveryState)
    assert message["receiptRequested"]["enum"] == list(ReceiptRequest)


def test_a_member_is_written_and_shown_as_its_text() -> None:
    row = {"state": MessageState.SENT}
    assert json.dumps(row) == '{"state": "sent"}'
    assert f"{Direction.OUT}" == "out" and str(DeliveryState.NOT_DELIVERED) == "not-delivered"
    stored = "queued"  # as a row read back from the database has it
    assert stored == MessageState.QUEUED and {stored: 1}[MessageState.QUEUED] == 1
