"""The engine's metrics move with real work: sends through the sandbox carrier, a magic
number it rejects, and callbacks to a receiver on loopback, all read through ``/metrics``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.engine.conftest import Bench, Receiver, status

OWN = "+15550001111"
PEER = "+15557770000"
REJECTED = "+15559992000"  # the sandbox refuses it at submit: state error


async def scrape(bench: Bench) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await bench.harness.http().get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


SENT = "trebuchet_messages_sent_total"
FAILED = "trebuchet_messages_failed_total"
CALLBACKS = "trebuchet_callback_attempts_total"
DEPTH = "trebuchet_queue_depth"


async def test_sends_failures_callbacks_and_queue_depth(bench: Bench, receiver: Receiver) -> None:
    creds = await bench.user([OWN])
    ok_url = receiver.url("/ok")
    bad_url = receiver.on("/bad", status(500))
    before = await scrape(bench)

    await bench.send(creds, **{"from": OWN, "to": PEER, "text": "a", "callbackUrl": ok_url})
    await bench.send(creds, **{"from": OWN, "to": PEER, "text": "b", "callbackUrl": bad_url})
    await bench.send(creds, **{"from": OWN, "to": REJECTED, "text": "c", "callbackUrl": ok_url})
    waiting = await scrape(bench)
    assert value(waiting, DEPTH) == 3
    assert value(waiting, SENT) == value(before, SENT)

    await bench.run()
    after = await scrape(bench)
    assert value(after, SENT) - value(before, SENT) == 2
    assert value(after, FAILED) - value(before, FAILED) == 1
    # "sent" of a and "error" of c reached /ok; "sent" of b got a 500 (retried later)
    ok = value(after, CALLBACKS, outcome="ok") - value(before, CALLBACKS, outcome="ok")
    failed = value(after, CALLBACKS, outcome="failed") - value(before, CALLBACKS, outcome="failed")
    assert (ok, failed) == (2, 1)
    assert len(receiver.at("/ok")) == 2 and len(receiver.at("/bad")) == 1
    assert value(after, DEPTH) == 0


async def test_a_message_retried_by_the_carrier_counts_once(bench: Bench) -> None:
    """Throttled twice, then sent: one send, no failure, and it stays queued meanwhile."""
    creds = await bench.user([OWN])
    before = await scrape(bench)
    await bench.send(creds, **{"from": OWN, "to": "+15559993002", "text": "t"})
    await bench.run()
    assert value(await scrape(bench), DEPTH) == 1  # back in the queue, waiting to retry
    await bench.run_for(10)
    after = await scrape(bench)
    assert value(after, SENT) - value(before, SENT) == 1
    assert value(after, FAILED) - value(before, FAILED) == 0
    assert value(after, DEPTH) == 0
