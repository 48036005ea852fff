"""Server backend and local MT engine throughput, side by side with what a user would do instead.

1. ``xbench eval --backend openai``: requests/s against the fake OpenAI-compatible server on
   127.0.0.1 (10 ms per request, answers in parallel like a vLLM server), concurrency 1 vs 16.
2. ``hf-mt:``: sentences/s of the engine (token-packed batches) vs a one-sentence-at-a-time loop
   (tokenize, generate, decode: what ``pipeline("translation")`` did before transformers 5
   removed it), same tiny NLLB-architecture fixture model, same 64 MMLU questions, CPU.

Run with ``pytest tests/benchmarks/test_backend_benchmarks.py --benchmark-only``;
``XBENCH_BENCH_SIZE=small``: 16 questions and 8 sentences (CI runs them with ``--benchmark-disable``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_openai import FakeOpenAI
from helpers import real_mmlu, sized
from mt_fixtures import save_tiny_nllb

from xbench.api_client import ApiClient
from xbench.runner.backends import ApiOptions, ApiScorer
from xbench.translation import pack_units
from xbench.translation.neural import HfMtEngine

MMLU = real_mmlu()
QUESTIONS = sized(96, 16)
SENTENCES = sized(64, 8)


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(latency=0.01) as fake:
        yield fake


def _prompts(n: int) -> list[str]:
    return [f"Question {i}?\nA. a\nB. b\nC. c\nD. d\nAnswer:" for i in range(n)]


@pytest.mark.parametrize("concurrency", [1, 16])
def test_api_requests_per_second(benchmark, server, concurrency):
    options = ApiOptions(server.url, protocol="harness", concurrency=concurrency)
    scorer = ApiScorer(ApiClient(server.url, cache=None), "tiny", "ABCD", "first-token", options)
    scored = benchmark.pedantic(scorer.score_group, args=(_prompts(QUESTIONS),), rounds=3, iterations=1)
    assert [s.prediction for s in scored] == [0] * QUESTIONS
    if benchmark.stats:
        benchmark.extra_info["requests_per_s"] = round(QUESTIONS / benchmark.stats.stats.mean, 1)


@pytest.fixture(scope="module")
def mt_setup(tmp_path_factory):
    folder = save_tiny_nllb(tmp_path_factory.mktemp("tiny-nllb"))
    if MMLU.is_file():
        import polars as pl

        sentences = [q.split("\n")[0][:300] for q in pl.read_parquet(MMLU)["question"].to_list()[:SENTENCES]]
    else:
        sentences = [f"Sentence number {i} about the capital of a country." for i in range(SENTENCES)]
    return folder, sentences


def test_hf_mt_engine_batched(benchmark, mt_setup):
    import torch

    torch.set_num_threads(2)
    folder, sentences = mt_setup
    engine = HfMtEngine(str(folder))
    packs = pack_units(sentences, engine.max_tokens, measure=engine.count_tokens, separator=0)

    def run() -> list[str]:
        return [t for pack in packs for t in engine.translate_batch(pack, "en", "fr")]

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert len(out) == len(sentences) and all(out)
    if benchmark.stats:
        benchmark.extra_info["sentences_per_s"] = round(len(sentences) / benchmark.stats.stats.mean, 1)


def test_one_sentence_at_a_time_loop(benchmark, mt_setup):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    torch.set_num_threads(2)
    folder, sentences = mt_setup
    tokenizer = AutoTokenizer.from_pretrained(folder, src_lang="eng_Latn")
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    forced = tokenizer.convert_tokens_to_ids("fra_Latn")

    def run() -> list[str]:
        out = []
        with torch.inference_mode():
            for sentence in sentences:
                ids = model.generate(**tokenizer(sentence, return_tensors="pt"), forced_bos_token_id=forced, num_beams=1, do_sample=False)
                out.append(tokenizer.decode(ids[0], skip_special_tokens=True))
        return out

    out = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    assert len(out) == len(sentences) and all(out)
    if benchmark.stats:
        benchmark.extra_info["sentences_per_s"] = round(len(sentences) / benchmark.stats.stats.mean, 1)
