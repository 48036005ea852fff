"""TOFU-style generation scoring: ROUGE recall exactly as TOFU computes it, and xbench score tofu."""

import hashlib
import json

import pytest

pytest.importorskip("rouge_score")

from helpers import write_jsonl, write_xbench_card
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from xbench.cli import app
from xbench.runner.generation import score_pairs

PAIRS = [
    {"id": "q1", "reference": "The author was born in Paris in 1960.", "generation": "The writer was born in Paris.", "author": "X"},
    {"id": "q2", "reference": "She writes science fiction novels.", "generation": "She is known for science fiction.", "author": "Y"},
    {"id": "q3", "reference": "Гарри учился в Хогвартсе.", "generation": "Гарри учился в школе.", "author": "Z"},
]


def test_rouge_recall_matches_tofus_call():
    reference_scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    for pair, sample in zip(PAIRS, score_pairs(PAIRS)):
        expected = reference_scorer.score(pair["reference"], pair["generation"])
        assert sample.rouge1_recall == expected["rouge1"].recall
        assert sample.rougeL_recall == expected["rougeL"].recall
        assert sample.extra == {"author": pair["author"]}
    assert score_pairs(PAIRS)[0].rouge1_recall == pytest.approx(5 / 8)


def test_default_tokenizer_drops_cyrillic_and_unicode_keeps_it():
    default, unicode = score_pairs(PAIRS[2:]), score_pairs(PAIRS[2:], "unicode")
    assert default[0].rouge1_recall == 0.0
    assert unicode[0].rouge1_recall == pytest.approx(3 / 4)  # Гарри, учился, в of Гарри учился в Хогвартсе


def test_score_tofu_cli_writes_the_runner_files(tmp_path):
    source = write_jsonl(tmp_path / "generations.jsonl", PAIRS)
    result = CliRunner().invoke(app, ["score", "tofu", str(source), "--out", str(tmp_path / "scored")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "scored" / "results.json").read_text())
    assert data["n_samples"] == 3 and set(data["metrics"]) == {"rouge1_recall", "rougeL_recall"}
    assert data["dataset_hash"] == hashlib.sha256(source.read_bytes()).hexdigest()  # the scored file, as sha256sum gives it
    assert (
        data["signature"]
        == f"xbench:generations.jsonl|cfg:generations|data:{data['dataset_hash'][:12]}|shots:0|demos:none|ids:-|instr:none|strategy:external|rouge:default|v:0.1.0"
    )
    assert data["kind"] == "score" and data["settings"] == {"rouge_tokenizer": "default"} and "prompt" not in data
    samples = [json.loads(line) for line in (tmp_path / "scored" / "samples.jsonl").read_text().splitlines()]
    assert samples[1]["extra"] == {"author": "Y"} and samples[1]["id"] == "q2"
    mean = sum(s["rouge1_recall"] for s in samples) / 3
    assert data["metrics"]["rouge1_recall"]["value"] == pytest.approx(mean)


def test_score_tofu_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"generation": "x"}\n')
    result = CliRunner().invoke(app, ["score", "tofu", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "bad.jsonl: line 1: needs string fields 'generation' and 'reference'" in result.output


def test_eval_generates_greedily_and_scores_rouge(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")

    from xbench.runner.evaluate import evaluate

    folder = tmp_path / "tofu_like"
    write_jsonl(folder / "test.jsonl", [{"question": "Who wrote the book?", "answer": "Jane Doe wrote it."}, {"question": "Where?", "answer": "In Paris."}])
    write_xbench_card(folder, "tofu", {"default": {"kind": "generation", "language": "en", "languages": ["en"]}})
    first = evaluate(str(tiny_model_dir), str(folder), out=tmp_path / "run", max_new_tokens=8, device="cpu", protocol="harness")[0]
    again = evaluate(str(tiny_model_dir), str(folder), out=tmp_path / "run2", max_new_tokens=8, device="cpu", protocol="harness")[0]
    assert first.config == "default" and first.n_samples == 2 and set(first.metrics) == {"rouge1_recall", "rougeL_recall"}
    lines = (tmp_path / "run" / "default" / "samples.jsonl").read_text()
    assert lines == (tmp_path / "run2" / "default" / "samples.jsonl").read_text()  # greedy: deterministic
    assert first.metrics == again.metrics
