"""Crosslingual probes: translation quality (sacrebleu) and embedding similarity statistics."""

import json
import math
import random

import pytest

pytest.importorskip("sacrebleu")
pytest.importorskip("scipy")

from typer.testing import CliRunner

from xbench.cli import app
from xbench.metrics import chrf_bleu
from xbench.parallel import read_parallel
from xbench.probes.embed import compare, cosine, dropout_mask, mix_words, replace_tokens
from xbench.probes.mt import (
    LM_PROMPT,
    engine_system,
    evaluate_systems,
    hypotheses_system,
    parse_directions,
    quality_table,
)

EN = ["The cat sits on the mat.", "It is raining today.", "We read a good book."]
FR = ["Le chat est assis sur le tapis.", "Il pleut aujourd'hui.", "Nous lisons un bon livre."]


@pytest.fixture
def flores(tmp_path):
    folder = tmp_path / "flores"
    folder.mkdir()
    (folder / "eng_Latn.devtest").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (folder / "fra_Latn.devtest").write_text("\n".join(FR) + "\n", encoding="utf-8")
    return folder


def test_scores_are_sacrebleus_with_signatures():
    from sacrebleu.metrics import BLEU, CHRF

    hyps = ["Le chat est sur le tapis.", "Il pleut.", "Nous lisons un livre."]
    result = chrf_bleu(hyps, FR, "fr")
    assert result["bleu"][0] == BLEU().corpus_score(hyps, [FR]).score
    assert result["chrf"][0] == CHRF().corpus_score(hyps, [FR]).score
    assert result["bleu"][1].startswith("nrefs:1|case:mixed|eff:no|tok:13a") and "chrF2" in CHRF().corpus_score(hyps, [FR]).format()
    assert chrf_bleu(FR, FR, "fr")["chrf"][0] == 100.0


def test_flores_folder_and_jsonl_pairs(flores, tmp_path):
    testset = read_parallel(flores)
    assert testset.direction("en", "fr") == (EN, FR) and testset.direction("fr", "en") == (FR, EN)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"source_lang": "en", "target_lang": "de", "source": e, "reference": e.upper()}) + "\n" for e in EN))
    assert read_parallel(pairs).direction("en", "de") == (EN, [e.upper() for e in EN])
    assert parse_directions(None)[:2] == [("en", "fr"), ("en", "de")] and len(parse_directions(None)) == 8


def test_systems_results_and_table(flores, tmp_path):
    hyps = tmp_path / "hyps"
    hyps.mkdir()
    (hyps / "en-fr.txt").write_text("\n".join(FR) + "\n")
    (hyps / "fr-en.txt").write_text("\n".join(EN[:2] + ["We read a book."]) + "\n")
    systems = {"pseudo": engine_system("pseudo", tmp_path / "c.sqlite"), "human": hypotheses_system(hyps)}
    results, messages = evaluate_systems(read_parallel(flores), systems, [("en", "fr"), ("fr", "en")], tmp_path / "out")
    assert [(r.model, r.config) for r in results] == [("pseudo", "en-fr"), ("pseudo", "fr-en"), ("human", "en-fr"), ("human", "fr-en")]
    assert results[2].metrics["chrf"].value == 100.0 and results[0].metrics["chrf"].value < 60
    assert messages == ["COMET skipped: pass --comet-model PATH (a downloaded Unbabel COMET checkpoint)"]
    columns, table = quality_table(results)
    assert columns == ["en-fr", "fr-en", "avg"]
    assert table["human"]["avg"] == pytest.approx((table["human"]["en-fr"] + table["human"]["fr-en"]) / 2)
    saved = json.loads((tmp_path / "out" / "human" / "en-fr" / "results.json").read_text())
    sacrebleu = {name: sig for name, (_, sig) in chrf_bleu(FR, FR, "fr").items()}
    assert saved["signature"] == f"xbench:mt|bleu:{sacrebleu['bleu']} chrf:{sacrebleu['chrf']}" and saved["n_samples"] == 3
    assert saved["kind"] == "mt" and saved["settings"] == {"sacrebleu": sacrebleu, "comet_model": None} and "prompt" not in saved
    assert [json.loads(line)["hypothesis"] for line in (tmp_path / "out" / "human" / "en-fr" / "hypotheses.jsonl").read_text().splitlines()] == FR


def test_lm_prompt_of_xu_et_al():
    assert (
        LM_PROMPT.format(source_name="German", target_name="English", text="Hallo Welt.")
        == "Translate this from German to English:\nGerman: Hallo Welt.\nEnglish:"
    )


def test_mt_eval_cli(flores, tmp_path):
    result = CliRunner().invoke(
        app, ["mt-eval", "--testset", str(flores), "--directions", "en-fr", "--engine", "pseudo", "--cache", str(tmp_path / "c.sqlite")]
    )
    assert result.exit_code == 0, result.output
    assert "chrf" in result.output and "en-fr" in result.output and "COMET skipped" in result.output
    result = CliRunner().invoke(app, ["mt-eval", "--testset", str(flores), "--directions", "en-fr"])
    assert result.exit_code == 2 and "give at least one system" in result.output
    result = CliRunner().invoke(app, ["mt-eval", "--testset", str(flores), "--directions", "en-ja", "--engine", "pseudo"])
    assert result.exit_code == 2 and "unknown language code 'ja'" in result.output


def test_cosine_and_welch_test_on_known_vectors():
    from scipy import stats

    assert cosine([1, 0], [0, 1]) == 0 and cosine([1, 2], [2, 4]) == pytest.approx(1.0) and cosine([1, 0], [-1, 0]) == -1
    rng = random.Random(0)
    high = [0.95 + rng.gauss(0, 0.01) for _ in range(50)]
    low = [0.60 + rng.gauss(0, 0.05) for _ in range(50)]
    test = compare(high, low)
    reference = stats.ttest_ind(high, low, equal_var=False)
    assert test.statistic == pytest.approx(reference.statistic) and test.p_value == pytest.approx(reference.pvalue)
    assert test.p_value < 1e-20 and test.mean_a > test.mean_b
    same = compare([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same.statistic == 0 and same.p_value == 1


def test_perturbations():
    rng = random.Random(1)
    ids = list(range(10, 60))
    replaced = replace_tokens(ids, 1.0, 100, rng, keep={10})
    assert replaced[0] == 10 and all(new != old for new, old in zip(replaced[1:], ids[1:])) and all(0 <= t < 100 for t in replaced)
    assert replace_tokens(ids, 0.0, 100, rng) == ids
    assert all(any(dropout_mask(5, 0.99, rng)) for _ in range(200))
    words = mix_words("The cat , 1952 .", 1.0, ["en", "fr"], rng, lambda w, lang: f"<{lang}>{w}")
    assert words == "<fr>The <fr>cat , 1952 ."
    assert mix_words("The cat", 0.0, ["en", "fr"], rng, lambda w, lang: "x") == "The cat"


def test_embed_end_to_end_on_the_tiny_model(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")

    from xbench.probes.embed import mean_embedding

    corpus = tmp_path / "wiki.txt"
    corpus.write_text("\n".join(f" The river {i} flows through the old city , and the bridge is {i} metres long . " for i in range(12)) + "\n")
    result = CliRunner().invoke(
        app,
        [
            "embed",
            "--model",
            str(tiny_model_dir),
            "--source",
            str(corpus),
            "--docs",
            "8",
            "--p",
            "0.5",
            "--translator",
            "pseudo",
            "--out",
            str(tmp_path / "emb"),
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "emb" / "results.json").read_text())
    assert set(data["metrics"]) == {"cos_mixed", "cos_replace", "cos_dropout", "welch_t_mixed_vs_replace", "p_value_mixed_vs_replace"}
    assert all(-1 <= data["metrics"][f"cos_{c}"]["value"] <= 1 for c in ("mixed", "replace", "dropout"))
    assert 0 <= data["metrics"]["p_value_mixed_vs_replace"]["value"] <= 1 and data["n_samples"] == 8
    assert data["signature"] == "xbench:embed|p:0.5|pool:en,fr,de,es,it|words:pseudo|seed:0"
    assert data["kind"] == "embed" and data["settings"] == {"p": 0.5, "pool": ["en", "fr", "de", "es", "it"], "translator": "pseudo"}
    assert (tmp_path / "emb" / "tsne.png").is_file()
    assert "nan" not in result.output  # the t and p values have no standard error: none is printed
    samples = [json.loads(line) for line in (tmp_path / "emb" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and not any(math.isnan(s["mixed"]) for s in samples)
    # masked positions do not count: the mean over a mask equals the mean over the kept prefix
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = [5, 6, 7, 8]
    assert mean_embedding(lm, ids, [1, 1, 0, 0]) == pytest.approx(mean_embedding(lm, ids[:2]), abs=1e-5)


def test_build_qa_puts_engine_quality_in_the_card(tmp_path, flores, mmlu_source, cache_path):
    import xbench

    out = tmp_path / "qa_build"
    report = xbench.build("mmlu_mixup", out=out, source=str(mmlu_source), translator="pseudo", cache=cache_path, langs="fr,de", formats="full", qa=str(flores))
    assert set(report.quality) == {"fr"} and report.quality["fr"]["n"] == 3
    card = (out / "README.md").read_text()
    assert "| French (`fr`) | 3 | " + str(report.quality["fr"]["chrf"]) in card
    assert json.loads((out / "build_report.json").read_text())["quality"]["fr"]["chrf"] == report.quality["fr"]["chrf"]
