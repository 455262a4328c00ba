"""A tiny run of the media benchmark (S3 through moto vs the filesystem), so its code
cannot rot. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.bench_media import media_round_trip

from tests import s3

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not s3.MOTO, reason=s3.MOTO_MISSING)
def test_media_benchmark_runs(tmp_path: Path) -> None:
    row = media_round_trip(tmp_path, rounds=1, files=2)
    assert row.measured.endswith("of filesystem") and "files/s" in row.detail
