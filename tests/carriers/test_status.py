"""What SMPP answers mean: submit statuses, receipts in both forms, multipart rules."""

from __future__ import annotations

import pytest

from trebuchet.server.carriers.refs import aggregate
from trebuchet.server.carriers.smpp import pdu as p
from trebuchet.server.carriers.smpp.status import (
    ACCEPTED,
    DELIVERED,
    ENROUTE,
    is_receipt,
    parse_receipt,
    permanent_code,
    status_name,
)

TEXT = b"id:0123abcd sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:%s err:000 text:hi"  # noqa: E501


@pytest.mark.parametrize(
    ("stat", "code", "final"),
    [("DELIVRD", 0, True), ("ACCEPTD", 0, True), ("EXPIRED", 902, True), ("UNDELIV", 650, True),
     ("REJECTD", 750, True), ("DELETED", 650, True), ("UNKNOWN", 999, True),
     ("ENROUTE", 999, False)],
)  # fmt: skip
def test_text_receipts(stat: str, code: int, final: bool) -> None:
    sm = p.ShortMessage(esm_class=4, short_message=TEXT % stat.encode())
    assert is_receipt(sm)
    report = parse_receipt(sm)
    assert report is not None
    assert (report.message_id, report.code, report.final) == ("0123abcd", code, final)
    assert report.error == "000"


def test_tlv_receipts_win_over_the_text() -> None:
    sm = p.ShortMessage(
        esm_class=4,
        short_message=TEXT % b"UNDELIV",
        tlvs={p.TLV_RECEIPTED_MESSAGE_ID: b"real-id\0", p.TLV_MESSAGE_STATE: bytes((ACCEPTED,))},
    )
    report = parse_receipt(sm)
    assert report is not None
    assert (report.message_id, report.state, report.code) == ("real-id", ACCEPTED, 0)


def test_tlv_only_receipt_even_without_the_receipt_flag() -> None:
    sm = p.ShortMessage(tlvs={p.TLV_RECEIPTED_MESSAGE_ID: b"x1\0", p.TLV_MESSAGE_STATE: b"\x02"})
    assert is_receipt(sm)
    report = parse_receipt(sm)
    assert report is not None and report.state == DELIVERED


def test_intermediate_notifications_and_nameless_receipts() -> None:
    sm = p.ShortMessage(esm_class=0x20, short_message=TEXT % b"DELIVRD")
    report = parse_receipt(sm)
    assert report is not None and report.state == ENROUTE and not report.final
    assert parse_receipt(p.ShortMessage(esm_class=4, short_message=b"stat:DELIVRD")) is None
    assert not is_receipt(p.ShortMessage(short_message=b"a plain message"))


def test_submit_statuses() -> None:
    assert permanent_code(p.ESME_RINVDSTADR) == 720
    assert permanent_code(p.ESME_RINVSRCADR) == 740
    assert permanent_code(p.ESME_RINVMSGLEN) == 751
    assert permanent_code(0x99) == 610
    assert status_name(p.ESME_RTHROTTLED) == "ESME_RTHROTTLED"
    assert status_name(0x12345) == "0x00012345"


@pytest.mark.parametrize(
    ("rule", "reports", "decided"),
    [
        ("first", [(2, 650), (1, 0)], [650, None]),
        ("last", [(2, 650), (1, 0)], [None, 0]),
        ("all", [(2, 650), (1, 0)], [None, 650]),
        ("all", [(1, 0), (2, 0)], [None, 0]),
        ("all", [(1, 0), (1, 0), (2, 902)], [None, None, 902]),  # a repeat changes nothing
        ("first", [(1, 0)], [0]),
    ],
)
def test_multipart_rules(rule: str, reports: list[tuple[int, int]], decided: list[int]) -> None:
    codes: dict[int, int | None] = {1: None, 2: None}
    seen = []
    for part, code in reports:
        seen.append(aggregate(rule, codes, part, code))
        if codes[part] is None:
            codes[part] = code
    assert seen == decided
