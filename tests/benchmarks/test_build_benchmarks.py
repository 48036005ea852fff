"""Build benchmarks on the real MMLU test split (14,042 rows) with pseudo translations.

Run with ``pytest tests/benchmarks --benchmark-only``; skipped in the normal run.
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
from xbench.building import _segments_for
from xbench.formats import parse_formats, plan_configs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import real_mmlu

MMLU = real_mmlu()
ALL_LANGS = "fr,de,es,it,ms,da,fi,no,bn,am,ru,zh,he,ar,hi"
pytestmark = pytest.mark.skipif(not MMLU.is_file(), reason="needs ../shared/data/mmlu/test.parquet")


def test_translation_volume_packed_vs_one_request_per_cell(benchmark, tmp_path):
    """Requests for one language (all 8 formats) against the paper's one request per cell."""
    rows = load_source(str(MMLU), ("test",))
    cells = sum(1 + len(r["choices"]) for r in rows["test"])

    def plan():
        return xbench.build(
            "mmlu_mixup", source=str(MMLU), splits="test", langs="fr", formats="all", translator="pseudo", cache=tmp_path / "c.sqlite", dry_run=True
        )

    report = benchmark.pedantic(plan, rounds=3, iterations=1)
    stats = report.languages["fr"]
    configs = plan_configs(["fr"], parse_formats("all"))
    segments = _segments_for("fr", configs, rows, 0)
    lower_bound = math.ceil(sum(len(s) for s in segments) / 5000)
    benchmark.extra_info.update(
        requests_packed=stats.requests,
        requests_lower_bound=lower_bound,
        requests_one_per_cell=cells,
        unique_segments=stats.segments,
        characters=stats.characters,
    )
    assert cells == 70_210
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


def _measured_build(langs: str, cache: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(MMLU), langs, str(cache), str(out)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_warm_cache_build_all_formats_15_languages(benchmark, tmp_path):
    cache = tmp_path / "warm.sqlite"
    _measured_build(ALL_LANGS, cache, tmp_path / "cold")  # fills the cache
    one = _measured_build("fr", cache, tmp_path / "one")
    result = benchmark.pedantic(lambda: _measured_build(ALL_LANGS, cache, tmp_path / "warm"), rounds=1, iterations=1)
    benchmark.extra_info.update(
        rows=result["rows"],
        rows_per_second=round(result["rows"] / result["seconds"]),
        seconds=round(result["seconds"], 1),
        peak_rss_mb_15_langs=round(result["peak_rss_mb"]),
        peak_rss_mb_1_lang=round(one["peak_rss_mb"]),
    )
    assert result["rows"] == 14_042 * (1 + 15 * 7 + 1)
    assert result["peak_rss_mb"] < 1.25 * one["peak_rss_mb"]  # memory does not grow with languages
