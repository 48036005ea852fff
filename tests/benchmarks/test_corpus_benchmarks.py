"""BM25 (bm25s against rank-bm25) and document mixing, on synthetic corpora made here.

Each measurement runs in its own process so its peak memory (max RSS) is its own.
Run with ``pytest tests/benchmarks --benchmark-only``; ``XBENCH_BENCH_SIZE=small``: 20,000
documents and 50,000 words (CI runs them with ``--benchmark-disable``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import sized

DOCS = sized(1_000_000, 20_000)  # BM25 corpus size
WORDS = sized(10_000_000, 50_000)  # the large mixing corpus; the small one has a tenth of it
_CORPUS = """
import random
def corpus(n_docs, words_per_doc=80, vocab_size=50_000, seed=0):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    cumulative, total = [], 0.0
    for i in range(vocab_size):
        total += 1 / (i + 1)
        cumulative.append(total)
    docs = [rng.choices(vocab, cum_weights=cumulative, k=words_per_doc) for _ in range(n_docs)]
    query = rng.choices(vocab, cum_weights=cumulative, k=2000)
    return docs, query
"""
_BM25 = (
    _CORPUS
    + """
import json, resource, sys, time
engine, n_docs = sys.argv[1], int(sys.argv[2])
docs, query = corpus(n_docs)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if engine == "bm25s":
    import bm25s
    retriever = bm25s.BM25(method="robertson", k1=1.5, b=0.75)
    retriever.index(docs, show_progress=False)
    indexed = time.perf_counter()
    scores = retriever.get_scores(query)
else:
    from rank_bm25 import BM25Okapi
    retriever = BM25Okapi(docs, k1=1.5, b=0.75, epsilon=0)
    indexed = time.perf_counter()
    scores = retriever.get_scores(query)
done = time.perf_counter()
top = sorted(range(len(scores)), key=lambda i: (-round(float(scores[i]) * (2.5 if engine == "bm25s" else 1), 3), i))[:100]
print(json.dumps({"index_s": indexed - started, "query_s": done - indexed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "corpus_mb": before / 1024, "top": top}))
"""
)
_MIX = """
import json, resource, sys, time
import xbench

class StandIn:  # pseudo's output, but cached like a real engine's (pseudo itself is never cached)
    name = "stand-in"
    def translate_batch(self, texts, source, target):
        return [f"[{target}] {text}" for text in texts]

corpus, unit, cache, out = sys.argv[1:5]
started = time.perf_counter()
report = xbench.build("wikitext_mixed", source=corpus, out=out, translator=StandIn(), cache=cache, options={"unit": unit})
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": report.configs[unit]["train"]}))
"""


def _run(script: str, *args) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bm25_one_million_documents_bm25s_against_rank_bm25(benchmark):
    pytest.importorskip("rank_bm25")
    reference = _run(_BM25, "rank_bm25", DOCS)
    ours = benchmark.pedantic(lambda: _run(_BM25, "bm25s", DOCS), rounds=1, iterations=1)
    benchmark.extra_info.update(
        bm25s={k: round(v, 2) for k, v in ours.items() if k != "top"},
        rank_bm25={k: round(v, 2) for k, v in reference.items() if k != "top"},
        query_time_ratio=round(reference["query_s"] / ours["query_s"]),
    )
    assert ours["top"][:20] == reference["top"][:20]


def _synthetic_wikitext(path: Path, words: int, seed: int = 0) -> Path:
    import random

    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(20_000)]
    weights = [1 / (i + 1) for i in range(20_000)]
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < words:
            n = rng.randint(40, 120)
            tokens = []
            for token in rng.choices(vocab, weights, k=n):
                tokens.append(token)
                if rng.random() < 0.08:
                    tokens.append(rng.choice([",", ".", ";"]))
            handle.write(" " + " ".join(tokens) + " . \n")
            written += n
    return path


@pytest.mark.parametrize("unit", ["document", "sentence", "words8", "words1"])
def test_mixing_ten_million_words_from_a_warm_cache(benchmark, tmp_path, unit):
    small = _synthetic_wikitext(tmp_path / "small.txt", WORDS // 10)
    large = _synthetic_wikitext(tmp_path / "large.txt", WORDS)
    cache = tmp_path / "cache.sqlite"
    _run(_MIX, large, unit, cache, tmp_path / "cold")  # fills the cache
    small_run = _run(_MIX, small, unit, tmp_path / "small.sqlite", tmp_path / "small_out")
    warm = benchmark.pedantic(lambda: _run(_MIX, large, unit, cache, tmp_path / "warm"), rounds=1, iterations=1)
    benchmark.extra_info.update(
        words_per_second=round(WORDS / warm["seconds"]),
        seconds=round(warm["seconds"], 1),
        peak_mb_10m_words=round(warm["peak_mb"]),
        peak_mb_1m_words=round(small_run["peak_mb"]),
    )
    assert warm["peak_mb"] < 1.5 * small_run["peak_mb"]  # memory stays flat as the corpus grows
