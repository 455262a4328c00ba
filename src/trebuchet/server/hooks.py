"""What the delivery engine reports as it works, through hooks.

Cross-cutting work (metrics today) hangs on these calls instead of on branches inside the
queues.  Each is called once per outcome, after it is stored: a message handed to the
carrier (``message_sent``), a message that ended in ``error`` (``message_failed``), and
every callback request tried (``callback_attempt``, with whether it got a 2xx).
"""

from __future__ import annotations

from typing import Protocol

from trebuchet.server import metrics


class EngineHooks(Protocol):
    def message_sent(self) -> None: ...

    def message_failed(self) -> None: ...

    def callback_attempt(self, ok: bool) -> None: ...


class MetricsHooks:
    """The default hooks: the process's Prometheus counters (``/metrics``)."""

    def message_sent(self) -> None:
        metrics.message_sent()

    def message_failed(self) -> None:
        metrics.message_failed()

    def callback_attempt(self, ok: bool) -> None:
        metrics.callback_attempt("ok" if ok else "failed")
