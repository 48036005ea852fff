"""The paired bootstrap of the gap to English: numpy (xbench.runner.transfer) against the plain-Python baseline.

Realistic size: the 14,042 MMLU test questions, 2,000 resamples, one comparison (a 16-language x
8-format report makes about 113 of them). ``XBENCH_BENCH_SIZE=small``: 500 questions (CI runs them
with ``--benchmark-disable``). Run with ``pytest tests/benchmarks/test_transfer_benchmarks.py --benchmark-only``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import sized

from xbench.runner import transfer
from xbench.study import stats

N = sized(14042, 500)
RNG = np.random.default_rng(0)
ENGLISH = (RNG.random(N) < 0.6).astype(float)
OTHER = np.where(RNG.random(N) < 0.8, ENGLISH, 1 - ENGLISH)


def test_numpy_cell_bootstrap(benchmark):
    gap, _, _ = benchmark(transfer.cell_bootstrap, ENGLISH, OTHER, resamples=2000, seed=0)
    assert gap.low < gap.value < gap.high


def test_numpy_paired_bootstrap(benchmark):
    (gap,) = benchmark(transfer.paired_bootstrap, [OTHER - ENGLISH], [np.ones(N)], resamples=2000, seed=0)
    assert gap.low < gap.value < gap.high


def test_plain_python_paired_bootstrap_baseline(benchmark):
    gap = benchmark.pedantic(stats.paired_bootstrap_gap, args=(ENGLISH.tolist(), OTHER.tolist()), kwargs={"resamples": 2000, "seed": 0}, rounds=1, iterations=1)
    assert gap.low < gap.estimate < gap.high
