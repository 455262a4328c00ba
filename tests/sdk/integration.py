"""Helpers for the integration tests: a fixed corpus of stored messages, and a proxy
that loses responses on purpose.

The corpus is written straight into the server's store (the server has no other way yet
to produce inbound, failed or receipted messages); everything else goes over HTTP.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from trebuchet.server.api.message_input import MessageIn, message_row
from trebuchet.server.store import InsertJob

from .conftest import Recorded, Reply

OWN = "+15550001111"
OWN_2 = "+15550001112"
PEER = "+15550002222"
PEER_2 = "+15550002223"
SHORT_CODE = "12345"
NUMBERS = [OWN, OWN_2]

BASE = dt.datetime(2023, 11, 14, 22, 0, 0, tzinfo=dt.UTC)
BASE_US = int(BASE.timestamp()) * 1_000_000


@dataclass(frozen=True)
class Seed:
    direction: str
    state: str
    from_: str
    to: str
    delivery_state: str | None = None
    delivery_code: int | None = None


# One message per minute from BASE, in this order.
CORPUS = [
    Seed("out", "sent", OWN, PEER, "delivered", 0),
    Seed("out", "sent", OWN, PEER_2, "not-delivered", 720),
    Seed("out", "error", OWN, PEER),
    Seed("out", "queued", OWN_2, PEER),
    Seed("out", "sending", OWN_2, PEER_2, "waiting"),
    Seed("in", "received", PEER, OWN),
    Seed("in", "received", SHORT_CODE, OWN_2),
    Seed("in", "error", PEER_2, OWN),
    Seed("out", "sent", OWN, SHORT_CODE),
    Seed("out", "error", OWN_2, PEER_2, "not-delivered", 999),
    Seed("out", "sent", OWN, PEER, "waiting"),
    Seed("in", "received", PEER, OWN_2),
]


def corpus_rows(user_id: str) -> list[dict[str, Any]]:
    rows = []
    for index, seed in enumerate(CORPUS):
        row = message_row(
            MessageIn(from_=OWN, to=PEER, text=f"corpus {index}"),
            user_id,
            BASE_US + index * 60_000_000,
        )
        row.update(
            from_number=seed.from_,
            to_number=seed.to,
            direction=seed.direction,
            state=seed.state,
            delivery_state=seed.delivery_state,
            delivery_code=seed.delivery_code,
            delivery_description=None if seed.delivery_code is None else "seeded",
            due_us=None,  # history: nothing left for the delivery engine to do
        )
        rows.append(row)
    return rows


def corpus_job(user_id: str) -> tuple[InsertJob, list[str]]:
    """The insert job for the corpus and its message ids, oldest first."""
    rows = corpus_rows(user_id)
    return InsertJob(rows), [row["id"] for row in rows]


def expected_ids(ids: list[str], keep: Callable[[int, Seed], bool]) -> list[str]:
    return [ids[i] for i, seed in enumerate(CORPUS) if keep(i, seed)]


def minute(index: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=index)


# (list_messages arguments, which corpus entries match)
FILTER_CASES: list[tuple[dict[str, Any], Callable[[int, Seed], bool]]] = [
    ({}, lambda i, s: True),
    ({"direction": "in"}, lambda i, s: s.direction == "in"),
    ({"direction": "out"}, lambda i, s: s.direction == "out"),
    *[
        ({"state": state}, (lambda st: lambda i, s: s.state == st)(state))
        for state in ("received", "queued", "sending", "sent", "error")
    ],
    *[
        ({"delivery_state": ds}, (lambda d: lambda i, s: s.delivery_state == d)(ds))
        for ds in ("waiting", "delivered", "not-delivered")
    ],
    ({"from_": OWN}, lambda i, s: s.from_ == OWN),
    ({"from_": PEER_2}, lambda i, s: s.from_ == PEER_2),
    ({"from_": SHORT_CODE}, lambda i, s: s.from_ == SHORT_CODE),
    ({"to": PEER}, lambda i, s: s.to == PEER),
    ({"to": SHORT_CODE}, lambda i, s: s.to == SHORT_CODE),
    ({"from_date_time": minute(3)}, lambda i, s: i >= 3),
    ({"to_date_time": minute(3)}, lambda i, s: i <= 3),
    (
        {"from_date_time": "2023-11-14 22:02", "to_date_time": "2023-11-14 22:05:00.000"},
        lambda i, s: 2 <= i <= 5,
    ),
    ({"from_date_time": "2023-11-14T22:10:00Z"}, lambda i, s: i >= 10),
    ({"to_date_time": "2023-11-14 21"}, lambda i, s: False),
    ({"from_date_time": "2023-11-15"}, lambda i, s: False),
    ({"from_date_time": dt.date(2023, 11, 14)}, lambda i, s: True),
    (
        {"direction": "out", "state": "sent", "from_": OWN},
        lambda i, s: s.direction == "out" and s.state == "sent" and s.from_ == OWN,
    ),
    (
        {"direction": "out", "delivery_state": "not-delivered", "size": 1},
        lambda i, s: s.direction == "out" and s.delivery_state == "not-delivered",
    ),
    ({"state": "received", "size": 2, "sort_order": "desc"}, lambda i, s: s.state == "received"),
]

FILTER_IDS = [
    ",".join(f"{k}={v}" for k, v in case.items()) or "no-filter" for case, _ in FILTER_CASES
]


class LossyProxy:
    """Forwards every request to ``upstream`` but loses the answer to the first ``lose``
    POSTs (the server did the work; the client sees a dropped connection)."""

    def __init__(self, upstream: str, lose: int = 1) -> None:
        self.upstream = upstream
        self.lose = lose
        self.upstream_responses: list[httpx.Response] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        self._http.close()

    def __call__(self, request: Recorded) -> Reply:
        forwarded = {
            k: v
            for k, v in request.headers.items()
            if k in ("authorization", "content-type", "idempotency-key", "user-agent")
        }
        response = self._http.request(
            request.method, self.upstream + request.target, headers=forwarded, content=request.body
        )
        with self._lock:
            self.upstream_responses.append(response)
            if request.method == "POST" and self.lose > 0:
                self.lose -= 1
                return Reply(drop=True)
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() in ("content-type", "location", "link", "idempotent-replayed")
        }
        return Reply(response.status_code, response.content, headers)
