"""`xbench qe DIR --engine roundtrip`: per-cell quality estimates written beside a build."""

import json

import pyarrow.parquet as pq
import pytest
from helpers import MMLU_TEST, write_jsonl
from sacrebleu.metrics import CHRF
from typer.testing import CliRunner

from xbench.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def build(tmp_path):
    english = write_jsonl(tmp_path / "test.jsonl", MMLU_TEST)
    out = tmp_path / "build"
    args = ("build", "mmlu_mixup", "--source", english, "--langs", "fr", "--formats", "full,gt_option", "--translator", "pseudo", "--out", out)
    args += ("--cache", tmp_path / "cache.sqlite")
    assert invoke(*args).exit_code == 0
    return out, english


def files(folder):
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_roundtrip_scores_every_translated_cell_and_leaves_the_build_alone(tmp_path, build):
    out, english = build
    before = files(out)
    result = invoke("qe", out, "--engine", "roundtrip", "--translator", "pseudo", "--source", english, "--cache", tmp_path / "cache.sqlite")
    assert result.exit_code == 0, result.output
    after = files(out)
    assert {k: v for k, v in after.items() if k not in ("qe.parquet", "qe_report.json")} == before
    rows = pq.read_table(out / "qe.parquet").to_pylist()
    # fr_full translates every cell of every item once: one score per (id, field)
    assert len(rows) == 5 * len(MMLU_TEST)
    assert {(r["id"], r["field"]) for r in rows} == {(f"{s}/test/{i}", f) for s, i in _ids() for f in ("question", "choice0", "choice1", "choice2", "choice3")}
    row = next(r for r in rows if r["id"] == "elementary_mathematics/test/0" and r["field"] == "question")
    assert row["translation"] == "[fr] What is 2 + 2?"
    assert row["back_translation"] == "[en] [fr] What is 2 + 2?"
    assert row["qe"] == round(CHRF().sentence_score(row["back_translation"], [row["source"]]).score, 2)
    report = json.loads((out / "qe_report.json").read_text(encoding="utf-8"))
    assert report["method"] == "roundtrip:pseudo"
    assert report["languages"]["fr"]["n"] == len(rows)
    assert report["languages"]["fr"]["min"] == min(r["qe"] for r in rows)


def _ids():
    seen = {}
    for r in MMLU_TEST:
        seen[r["subject"]] = seen.get(r["subject"], -1) + 1
        yield r["subject"], seen[r["subject"]]


def test_rerun_scores_nothing_twice(tmp_path, build):
    out, english = build
    args = ("qe", out, "--translator", "pseudo", "--source", english, "--cache", tmp_path / "cache.sqlite")
    first = invoke(*args)
    assert first.exit_code == 0 and f"scored {5 * len(MMLU_TEST)} cells" in first.output
    written = (out / "qe.parquet").read_bytes()
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert f"scored 0 cells ({5 * len(MMLU_TEST)} reused" in again.output
    assert (out / "qe.parquet").read_bytes() == written


def test_local_source_must_be_given_again(build):
    out, _ = build
    result = invoke("qe", out, "--translator", "pseudo")
    assert result.exit_code == 2
    assert "built from local files 'test.jsonl'; pass them again with --source PATH" in result.output


@pytest.mark.parametrize(
    ("engine", "module", "pip"), [("labse", "sentence_transformers", "pip install sentence-transformers"), ("comet-kiwi", "comet", "pip install unbabel-comet")]
)
def test_engine_without_its_extra_names_the_pip_command(build, monkeypatch, engine, module, pip):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    out, english = build
    result = invoke("qe", out, "--engine", engine, "--source", english)
    assert result.exit_code == 2
    assert f"--engine {engine} needs the {module} package: {pip}" in result.output
    assert not (out / "qe.parquet").exists()


def test_unknown_engine(build):
    out, english = build
    result = invoke("qe", out, "--engine", "bleurt", "--source", english)
    assert result.exit_code == 2 and "expected one of roundtrip, labse, comet-kiwi" in result.output
