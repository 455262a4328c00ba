"""The delivery engine: claiming due messages, the carrier, receipts, inbound, callbacks."""

from trebuchet.server.engine.engine import Engine

__all__ = ["Engine"]
