"""Sixty simulated days of steady traffic with housekeeping: once the record window has
passed, the store stops growing (rows per table and bytes on disk within 10%), on both
stores.  Scaled down from ``python -m benchmarks.soak`` (docs/operations.md)."""

from __future__ import annotations

from benchmarks.soak import levelled_off, soak

from trebuchet.server.store.retention import RetentionPolicy

DAYS = 60
PER_DAY = 60
RECORD_DAYS = 30


async def test_the_store_levels_off_after_the_retention_window(store_url: str) -> None:
    figures = await soak(store_url, days=DAYS, per_day=PER_DAY, policy=RetentionPolicy(), batch=100)

    assert [figure.day for figure in figures] == list(range(1, DAYS + 1))
    window = figures[RECORD_DAYS - 1].rows
    assert window["messages"] == RECORD_DAYS * (PER_DAY + PER_DAY // 10)
    tail = figures[RECORD_DAYS + 1 :]
    for table in window:
        counts = [figure.rows[table] for figure in tail]
        assert max(counts) <= 1.1 * min(counts), (table, counts)
    rows, size = levelled_off(figures, RECORD_DAYS + 1)
    assert rows <= 1.1 and size <= 1.1, (rows, size)
    # It levelled off because rows went, not because nothing came: every day after the
    # window deleted a day's messages.
    assert all(figure.handled["records"] == PER_DAY + PER_DAY // 10 for figure in tail)
    assert figures[-1].rows["idempotency_keys"] == PER_DAY  # a day's, the rest pruned
