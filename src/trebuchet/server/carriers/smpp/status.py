"""What SMPP answers mean for a message: submit_sm_resp statuses and delivery receipts.

A submit_sm_resp status is one of three outcomes: accepted, try again (transient: the
SMSC is busy or broken for now) or never (permanent, with the §3.4 delivery code shown
on the message).  A delivery receipt (``deliver_sm`` with esm_class 0x04) carries the
SMSC's message id and final state, in the ``receipted_message_id`` and ``message_state``
TLVs or in the de-facto text format ``id:… sub:… dlvrd:… submit date:… done date:…
stat:DELIVRD err:… text:…``; the TLVs win when both are present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trebuchet.server.carriers.smpp import pdu as p

THROTTLING = frozenset({p.ESME_RTHROTTLED, p.ESME_RMSGQFUL})
TRANSIENT = frozenset({p.ESME_RSYSERR, p.ESME_RX_T_APPN, p.ESME_RINVBNDSTS, p.ESME_RUNKNOWNERR})

# submit_sm_resp status → §3.4 delivery code of a permanent failure.
PERMANENT_CODES = {
    p.ESME_RINVMSGLEN: 751,
    p.ESME_RINVSRCADR: 740,
    0x48: 740,  # ESME_RINVSRCTON
    0x49: 740,  # ESME_RINVSRCNPI
    p.ESME_RINVDSTADR: 720,
    0x50: 720,  # ESME_RINVDSTTON
    0x51: 720,  # ESME_RINVDSTNPI
    0x33: 720,  # ESME_RINVNUMDESTS
    p.ESME_RINVSERTYP: 700,
    p.ESME_RX_P_APPN: 620,
    p.ESME_RX_R_APPN: 750,
    p.ESME_RSUBMITFAIL: 610,
}
NACK_CODE = 630
SUBMIT_FAILED_CODE = 610


def status_name(status: int) -> str:
    names = {
        value: name
        for name, value in vars(p).items()
        if name.startswith("ESME_R") and isinstance(value, int)
    }
    return names.get(status, f"0x{status:08x}")


def permanent_code(status: int) -> int:
    return PERMANENT_CODES.get(status, SUBMIT_FAILED_CODE)


# -- receipts ----------------------------------------------------------------------------

# message_state values (SMPP 3.4 §5.2.28) and the receipt text's stat words.
ENROUTE, DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, ACCEPTED, UNKNOWN, REJECTED = range(1, 9)
STAT_WORDS = {
    "ENROUTE": ENROUTE,
    "DELIVRD": DELIVERED,
    "DELIVERED": DELIVERED,
    "EXPIRED": EXPIRED,
    "DELETED": DELETED,
    "UNDELIV": UNDELIVERABLE,
    "UNDELIVERABLE": UNDELIVERABLE,
    "ACCEPTD": ACCEPTED,
    "ACCEPTED": ACCEPTED,
    "UNKNOWN": UNKNOWN,
    "REJECTD": REJECTED,
    "REJECTED": REJECTED,
}
# Final states → §3.4 delivery codes.  ACCEPTD is the SMSC's own final "taken" state;
# code 0 reads "Message Delivered to Carrier", which is what it says.
STATE_CODES = {
    DELIVERED: 0,
    ACCEPTED: 0,
    EXPIRED: 902,
    DELETED: 650,
    UNDELIVERABLE: 650,
    UNKNOWN: 999,
    REJECTED: 750,
}

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)


@dataclass(frozen=True)
class ReceiptReport:
    message_id: str
    state: int
    error: str = ""

    @property
    def final(self) -> bool:
        return self.state in STATE_CODES

    @property
    def code(self) -> int:
        return STATE_CODES.get(self.state, 999)


def is_receipt(sm: p.ShortMessage) -> bool:
    kind = sm.esm_class & p.ESM_TYPE_MASK
    return kind in (p.ESM_DELIVERY_RECEIPT, p.ESM_INTERMEDIATE) or (
        p.TLV_RECEIPTED_MESSAGE_ID in sm.tlvs and kind == 0 and not sm.short_message.strip()
    )


def parse_receipt(sm: p.ShortMessage) -> ReceiptReport | None:
    """The receipt in a deliver_sm, or None when it names no message."""
    fields = {
        key.lower(): value
        for key, value in _FIELD.findall(sm.short_message.decode("latin-1", errors="replace"))
    }
    message_id = fields.get("id", "")
    raw_id = sm.tlvs.get(p.TLV_RECEIPTED_MESSAGE_ID)
    if raw_id is not None:
        message_id = raw_id.rstrip(b"\0").decode("latin-1")
    if not message_id:
        return None
    raw_state = sm.tlvs.get(p.TLV_MESSAGE_STATE)
    stat = STAT_WORDS.get(fields.get("stat", "").upper(), UNKNOWN)
    state = raw_state[0] if raw_state else stat
    if sm.esm_class & p.ESM_TYPE_MASK == p.ESM_INTERMEDIATE:
        state = ENROUTE  # an intermediate notification is never the final word
    return ReceiptReport(message_id, state, fields.get("err", ""))
