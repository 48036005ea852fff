"""TOFU: translated questions, English answers kept as references."""

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from helpers import FakeEngine, write_jsonl
from typer.testing import CliRunner

import xbench
from xbench.cli import app

PERTURBED = [
    {
        "question": "Who is the author born in Taipei in 1952?",
        "answer": "The author born in Taipei in 1952 is Hsiao Yun-Hwa.",
        "paraphrased_question": "Which writer was born in Taipei in 1952?",
        "paraphrased_answer": "Hsiao Yun-Hwa was born in Taipei in 1952.",
        "perturbed_answer": ["The author is Li Ming.", "The author is Chen Hua."],
    },
    {
        "question": "What genre does Hsiao Yun-Hwa write?",
        "answer": "Hsiao Yun-Hwa writes leadership books.",
        "paraphrased_question": "In which genre does Hsiao Yun-Hwa write?",
        "paraphrased_answer": "Leadership is the genre of Hsiao Yun-Hwa.",
        "perturbed_answer": ["Poetry.", "Science fiction."],
    },
]


@pytest.fixture
def tofu_file(tmp_path):
    return write_jsonl(tmp_path / "forget01_perturbed.jsonl", PERTURBED)


def test_questions_translated_answers_kept(tmp_path, tofu_file, cache_path):
    out = tmp_path / "tofu"
    engine = FakeEngine()
    report = xbench.build(
        "tofu", out=out, source=str(tofu_file), translator=engine, cache=cache_path, langs="fr,de", options={"source_config": "forget01_perturbed"}
    )
    assert list(report.configs) == ["forget01_perturbed_en", "forget01_perturbed_fr", "forget01_perturbed_de"]
    fr = load_dataset(str(out), "forget01_perturbed_fr", split="train")
    row = fr[0]
    assert row["question"] == "<fr>" + PERTURBED[0]["question"]
    assert row["paraphrased_question"] == "<fr>" + PERTURBED[0]["paraphrased_question"]
    assert row["answer"] == PERTURBED[0]["answer"] and row["paraphrased_answer"] == PERTURBED[0]["paraphrased_answer"]
    assert row["perturbed_answer"] == PERTURBED[0]["perturbed_answer"] and row["id"] == "forget01_perturbed/0"
    assert row["question_lang"] == "fr" and row["translation"] == "fake"
    en = pq.read_table(out / "forget01_perturbed_en" / "train-00000-of-00001.parquet").to_pylist()
    assert [r["question"] for r in en] == [r["question"] for r in PERTURBED]
    assert sorted(u for texts, _, target in engine.requests if target == "fr" for u in texts) == sorted(
        t for r in PERTURBED for t in (r["question"], r["paraphrased_question"])
    )
    card = (out / "README.md").read_text()
    assert "TOFU: A Task of Fictitious Unlearning" in card and "license: mit" in card
    assert "default: true" in card.split("forget01_perturbed_en")[1].split("config_name")[0]


def test_translate_answers_adds_columns(tmp_path, tofu_file, cache_path):
    out = tmp_path / "tofu"
    xbench.build("tofu", out=out, source=str(tofu_file), translator=FakeEngine(), cache=cache_path, langs="es", options={"translate_answers": True})
    row = pq.read_table(out / "forget01_perturbed_es" / "train-00000-of-00001.parquet").to_pylist()[1]
    assert row["answer"] == PERTURBED[1]["answer"]
    assert row["answer_translated"] == "<es>" + PERTURBED[1]["answer"]
    assert row["paraphrased_answer_translated"] == "<es>" + PERTURBED[1]["paraphrased_answer"]


def test_plain_subset_without_paraphrases(tmp_path, cache_path):
    plain = write_jsonl(tmp_path / "full.jsonl", [{"question": "Q1?", "answer": "A1."}])
    out = tmp_path / "o"
    report = xbench.build("tofu", out=out, source=str(plain), translator="pseudo", cache=cache_path, langs="it")
    assert list(report.configs) == ["full_en", "full_it"]
    assert pq.read_table(out / "full_it" / "train-00000-of-00001.parquet").to_pylist()[0]["question"] == "[it] Q1?"


def test_missing_question_exits_2(tmp_path, cache_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "Q?", "answer": "A."}, {"answer": "no question"}])
    result = CliRunner().invoke(
        app, ["build", "tofu", "--source", str(bad), "--translator", "pseudo", "--out", str(tmp_path / "o"), "--cache", str(cache_path)]
    )
    assert result.exit_code == 2 and "bad.jsonl: row 2: missing 'question'" in result.output
    assert not (tmp_path / "o").exists()
