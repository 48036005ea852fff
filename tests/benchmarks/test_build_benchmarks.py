"""Build benchmarks on the real MMLU test split (14,042 rows) with pseudo translations.

Run with ``pytest tests/benchmarks --benchmark-only``; skipped in the normal run.
``XBENCH_BENCH_SIZE=small``: the first 300 rows only (CI runs them with ``--benchmark-disable``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import xbench
from xbench.builders.mmlu_mixup import load_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import real_mmlu, sized

MMLU = real_mmlu()
ROWS = sized(14_042, 300)  # test rows: the whole split, or its first 300
ALL_LANGS = "fr,de,es,it,ms,da,fi,no,bn,am,ru,zh,he,ar,hi"
pytestmark = pytest.mark.skipif(not MMLU.is_file(), reason="needs ../shared/data/mmlu/test.parquet")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The first ROWS rows of the real MMLU test split (all of them at full size)."""
    import polars as pl

    path = tmp_path_factory.mktemp("mmlu") / "test.parquet"
    pl.read_parquet(MMLU).head(ROWS).write_parquet(path)
    return path


def test_translation_volume_packed_vs_one_request_per_cell(benchmark, source, tmp_path):
    """Requests for one language (all 8 formats) against the paper's one request per cell."""
    rows = load_source(str(source), ("test",))["test"]
    cells = sum(1 + len(r["choices"]) for r in rows)

    def plan():
        return xbench.build(
            "mmlu_mixup", source=str(source), splits="test", langs="fr", formats="all", translator="pseudo", cache=tmp_path / "c.sqlite", dry_run=True
        )

    report = benchmark.pedantic(plan, rounds=3, iterations=1)
    stats = report.languages["fr"]
    segments = {text for row in rows for text in (row["question"], *row["choices"]) if text.strip()}  # fr_full needs every cell
    lower_bound = math.ceil(sum(len(s) for s in segments) / 5000)
    benchmark.extra_info.update(
        requests_packed=stats.requests,
        requests_lower_bound=lower_bound,
        requests_one_per_cell=cells,
        unique_segments=stats.segments,
        characters=stats.characters,
    )
    assert len(rows) == ROWS and cells == 5 * ROWS  # a question and its four choices
    assert abs(stats.requests - lower_bound) <= 0.10 * lower_bound


_MEASURE = """
import json, resource, sys, time
import xbench

class StandIn:  # pseudo's output, but cached like a real engine's (pseudo itself is never cached)
    name = "stand-in"
    def translate_batch(self, texts, source, target):
        return [f"[{target}] {text}" for text in texts]

started = time.perf_counter()
report = xbench.build("mmlu_mixup", source=sys.argv[1], splits="test", langs=sys.argv[2], formats="all",
                      translator=StandIn(), cache=sys.argv[3], out=sys.argv[4])
seconds = time.perf_counter() - started
rows = sum(sum(s.values()) for s in report.configs.values())
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measured_build(source: Path, langs: str, cache: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(source), langs, str(cache), str(out)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_warm_cache_build_all_formats_15_languages(benchmark, source, tmp_path):
    cache = tmp_path / "warm.sqlite"
    _measured_build(source, ALL_LANGS, cache, tmp_path / "cold")  # fills the cache
    one = _measured_build(source, "fr", cache, tmp_path / "one")
    result = benchmark.pedantic(lambda: _measured_build(source, ALL_LANGS, cache, tmp_path / "warm"), rounds=1, iterations=1)
    benchmark.extra_info.update(
        rows=result["rows"],
        rows_per_second=round(result["rows"] / result["seconds"]),
        seconds=round(result["seconds"], 1),
        peak_rss_mb_15_langs=round(result["peak_rss_mb"]),
        peak_rss_mb_1_lang=round(one["peak_rss_mb"]),
    )
    assert result["rows"] == ROWS * (1 + 15 * 7 + 1)  # en, 7 formats per language, mixup
    assert result["peak_rss_mb"] < 1.25 * one["peak_rss_mb"]  # memory does not grow with languages
