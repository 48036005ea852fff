"""Local neural MT engines (hf-mt:, llm:, llm-api:) with tiny random models built in fixtures (no download)."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from fake_openai import FakeOpenAI
from mt_fixtures import save_tiny_marian, save_tiny_nllb
from runner_fixtures import save_tiny_model
from typer.testing import CliRunner

import xbench
from xbench.cli import app
from xbench.errors import InputError
from xbench.translation import TranslationCache, Translator, create_engine, pack_units
from xbench.translation.neural import ApiLlmEngine, HfMtEngine, LlmEngine, lm_prompt

SENTENCES = [
    "What is the capital of France?",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Which planet is the largest in the solar system?",
    "Answer: B",
    "Dumbledore",
]


@pytest.fixture(scope="module")
def nllb_dir(tmp_path_factory):
    return save_tiny_nllb(tmp_path_factory.mktemp("tiny-nllb"))


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory):
    return save_tiny_marian(tmp_path_factory.mktemp("tiny-opus-mt"), targets=(">>fra<<", ">>deu<<"))


class GenerateSpy:
    """Wraps ``model.generate`` to record its inputs."""

    def __init__(self, engine):
        self.calls = []
        self.inner = engine.model.generate
        engine.model.generate = self

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.inner(**kwargs)


def test_nllb_language_codes_come_from_the_registry(nllb_dir):
    engine = create_engine(f"hf-mt:{nllb_dir}")
    assert isinstance(engine, HfMtEngine) and engine.name == f"hf-mt:{nllb_dir}" and engine.family == "nllb"
    assert [engine.language_token(c) for c in ("fr", "zh", "ms", "no", "ar")] == ["fra_Latn", "zho_Hans", "zsm_Latn", "nob_Latn", "arb_Arab"]
    spy = GenerateSpy(engine)
    out = engine.translate_batch(SENTENCES[:2], "de", "fr")
    call = spy.calls[0]
    assert call["forced_bos_token_id"] == engine.vocabulary["fra_Latn"] and call["do_sample"] is False
    assert call["input_ids"][:, 0].tolist() == [engine.vocabulary["deu_Latn"]] * 2  # the source language token leads
    assert len(out) == 2 and all(isinstance(t, str) and t.strip() for t in out)


def test_multi_target_marian_prefixes_the_target_token_and_rejects_unknown_targets(marian_dir):
    engine = HfMtEngine(str(marian_dir))
    assert engine.family == "marian" and engine.language_token("fr") == ">>fra<<" and engine.language_token("de") == ">>deu<<"
    spy = GenerateSpy(engine)
    engine.translate_batch(["Hello world"], "en", "fr")
    assert spy.calls[0]["input_ids"][0, 0].item() == engine.vocabulary[">>fra<<"]
    with pytest.raises(InputError, match=r"has no language token for it \(>>it<< or >>ita<<\); use another engine for it"):
        engine.check_pair("en", "it")


def test_batched_equals_one_at_a_time_in_input_order(nllb_dir):
    engine = HfMtEngine(str(nllb_dir))
    batched = engine.translate_batch(SENTENCES, "en", "fr")
    assert batched == [engine.translate_batch([s], "en", "fr")[0] for s in SENTENCES]
    assert len(set(batched)) > 1  # outputs depend on the input, so a reordering would show


def test_translator_packs_by_tokens_and_caches(nllb_dir, tmp_path):
    engine = HfMtEngine(str(nllb_dir), batch_tokens=20)
    spy = GenerateSpy(engine)
    cache = TranslationCache(tmp_path / "c.sqlite")
    outcome = Translator([engine], cache).translate_or_raise(SENTENCES, "en", "fr")
    sizes = [sum(engine.count_tokens(t) for t in pack) for pack in pack_units(SENTENCES, 20, measure=engine.count_tokens, separator=0)]
    assert len(spy.calls) == len(sizes) > 1 and all(
        s <= 20 or n == 1 for s, n in zip(sizes, map(len, pack_units(SENTENCES, 20, measure=engine.count_tokens, separator=0)))
    )
    assert [len(c["input_ids"]) for c in spy.calls] == [len(p) for p in pack_units(SENTENCES, 20, measure=engine.count_tokens, separator=0)]
    assert {engine for _, engine in outcome.translations.values()} == {f"hf-mt:{nllb_dir}"}  # provenance per cell
    again = HfMtEngine(str(nllb_dir))
    rerun = Translator([again], cache).translate(SENTENCES, "en", "fr")
    assert rerun.translations == outcome.translations and "model" not in again.__dict__  # answered from the cache, model never loaded


def test_build_with_hf_mt_records_the_engine_and_bad_language_exits_2(marian_dir, tmp_path):
    out = tmp_path / "mmlu"
    report = xbench.build("mmlu_mixup", out=out, source="sample", translator=f"hf-mt:{marian_dir}", langs="fr", formats="full", cache=tmp_path / "c.sqlite")
    assert report.languages["fr"].engines == {f"hf-mt:{marian_dir}": report.languages["fr"].segments}
    written = json.loads((out / "build_report.json").read_text())
    assert f"hf-mt:{marian_dir}" in json.dumps(written)
    import polars as pl

    provenance = pl.read_parquet(sorted((out / "fr_full").glob("test-*.parquet")))["translation"].unique().to_list()
    assert provenance == [f"hf-mt:{marian_dir}"]  # provenance per row
    bad = tmp_path / "bad"
    result = CliRunner().invoke(
        app,
        [
            "build",
            "mmlu_mixup",
            "--source",
            "sample",
            "--langs",
            "it",
            "--formats",
            "full",
            "--translator",
            f"hf-mt:{marian_dir}",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(bad),
            "--quiet",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "has no language token for it (>>it<< or >>ita<<); use another engine for it" in result.output
    assert not bad.exists()


def test_unloadable_model_exits_2(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "build",
            "mmlu_mixup",
            "--source",
            "sample",
            "--langs",
            "fr",
            "--formats",
            "full",
            "--translator",
            f"hf-mt:{tmp_path / 'missing'}",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "cannot load" in result.output
    result = CliRunner().invoke(app, ["build", "mmlu_mixup", "--source", "sample", "--translator", "hf-mt:", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "name a model after the colon" in result.output


def test_mt_eval_scores_an_hf_mt_engine(nllb_dir, tmp_path):
    testset = tmp_path / "flores"
    testset.mkdir()
    (testset / "eng_Latn.devtest").write_text("\n".join(SENTENCES[:3]) + "\n", encoding="utf-8")
    (testset / "fra_Latn.devtest").write_text("Quelle est la capitale de la France ?\nBonjour le monde\nLe renard.\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "mt-eval",
            "--testset",
            str(testset),
            "--engine",
            f"hf-mt:{nllb_dir}",
            "--directions",
            "en-fr",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(tmp_path / "scores"),
        ],
    )
    assert result.exit_code == 0, result.output
    hypotheses = (tmp_path / "scores" / f"hf-mt:{nllb_dir}".replace("/", "__") / "en-fr" / "hypotheses.jsonl").read_text().splitlines()
    assert len(hypotheses) == 3 and "chrf" in result.output


def test_llm_engine_uses_the_mt_eval_prompt(tmp_path):
    assert lm_prompt("Hallo Welt.", "de", "en") == "Translate this from German to English:\nGerman: Hallo Welt.\nEnglish:"
    engine = create_engine(f"llm:{save_tiny_model(tmp_path / 'llm')}")
    assert isinstance(engine, LlmEngine) and engine.tokenizer.padding_side == "left"
    spy = GenerateSpy(engine)
    short = ["Hello world", "Answer: B"]
    out = engine.translate_batch(short, "en", "fr")
    decoded = engine.tokenizer.batch_decode(spy.calls[0]["input_ids"], skip_special_tokens=True)
    assert decoded == [lm_prompt(s, "en", "fr") for s in short]
    assert len(out) == 2 and all("\n" not in t for t in out)


def test_llm_api_engine_sends_the_prompt_to_the_server(monkeypatch, tmp_path):
    with FakeOpenAI(name="translator") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        engine = create_engine("llm-api:translator")
        assert isinstance(engine, ApiLlmEngine) and engine.name == "llm-api:translator" and engine.max_segments == 16
        engine.check_pair("en", "fr")
        out = engine.translate_batch(SENTENCES[:2], "en", "fr")
        body = server.requests[0]
        assert body["prompt"] == [lm_prompt(s, "en", "fr") for s in SENTENCES[:2]] and body["stop"] == ["\n"] and body["temperature"] == 0
        assert out == ["A", "A"]
        chat = ApiLlmEngine("translator", chat=True, environ={"OPENAI_BASE_URL": server.url})
        assert chat.translate_batch(["Hello"], "en", "fr") == ["A"] and chat.max_segments == 1
        outcome = Translator([engine], TranslationCache(tmp_path / "c.sqlite")).translate(["Hello", "TOO LONG text"], "en", "fr")
        assert outcome.translations["Hello"] == ("A", "llm-api:translator")  # the pack was halved around the refused prompt
        assert "maximum context length" in outcome.failed["TOO LONG text"]
        with pytest.raises(InputError, match="'gpt-x' is not served"):
            ApiLlmEngine("gpt-x", environ={"OPENAI_BASE_URL": server.url}).check_pair("en", "fr")
