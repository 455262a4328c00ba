"""SMPP 3.4: the PDU layer (:mod:`.pdu`), sessions (:mod:`.session`) and the carrier."""

from trebuchet.server.carriers.smpp.carrier import SmppCarrier, SmppRejected
from trebuchet.server.carriers.smpp.config import SmppConfig

__all__ = ["SmppCarrier", "SmppConfig", "SmppRejected"]
