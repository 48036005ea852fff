"""Reliability round 3: push uploads only what the build wrote; recipe names and settings are checked up front."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xbench import hub
from xbench.cli import app

runner = CliRunner()


class _Api:
    def __init__(self):
        self.uploads = []

    def create_repo(self, repo_id, **kwargs):
        pass

    def upload_folder(self, **kwargs):
        self.uploads.append(kwargs)
        return type("Commit", (), {"commit_url": "https://hub/commit/1"})()


def test_push_uploads_only_the_build_manifest_and_lists_the_rest(tmp_path, mmlu_source, cache_path, monkeypatch):
    out = tmp_path / "out"
    built = runner.invoke(
        app,
        [
            "build",
            "mmlu_mixup",
            "--source",
            str(mmlu_source),
            "--translator",
            "pseudo",
            "--langs",
            "fr",
            "--formats",
            "full",
            "--out",
            str(out),
            "--cache",
            str(cache_path),
            "-q",
        ],
    )
    assert built.exit_code == 0, built.output
    (out / ".env").write_text("HF_TOKEN=hf_private\n")
    (out / "notes.txt").write_text("mine")
    (out / "fr_full" / "scratch.md").write_text("mine")
    (out / "runs").mkdir()
    (out / "runs" / "results.json").write_text("{}")
    api = _Api()
    monkeypatch.setattr("huggingface_hub.HfApi", lambda: api)
    result = runner.invoke(app, ["push", str(out), "--repo", "org/name", "--force"])
    assert result.exit_code == 0, result.output
    uploaded = api.uploads[0]["allow_patterns"]
    assert uploaded[:1] == ["README.md"] and "build_report.json" in uploaded
    assert all(p in ("README.md", "build_report.json") or p.endswith(".parquet") for p in uploaded)
    assert {p.split("/")[0] for p in uploaded if p.endswith(".parquet")} == {"en", "fr_full"}
    assert hub.manifest(out).left_out == [".env", "fr_full/scratch.md", "notes.txt", "runs/results.json"]
    assert "not uploaded (not written by the build): .env, fr_full/scratch.md, notes.txt, runs/results.json" in " ".join(result.output.split())
    assert "hf_private" not in result.output


RECIPE = """
name: mine
title: t
paper: {figures: [Fig. 1], section: "1"}
models: [m]
builds:
  quiz: {dataset: hp_quiz, langs: [fr], formats: [full]}
evaluations:
  hp: {data: quiz, configs: [en, fr]}
figure: {kind: bars, x: language, metric: acc, ylabel: accuracy}
"""


@pytest.mark.parametrize(
    ("edit", "overrides", "message"),
    [
        (("  quiz: {", '  "../../mybuild": {'), [], "builds.../../mybuild: '../../mybuild' is not a valid name; it becomes a folder inside --out"),
        (("configs: [en, fr]}", "configs: [en, fr], variants: [{name: ../x}]}"), [], "evaluations.hp.variants[0].name: '../x' is not a valid name"),
        (("configs: [en, fr]}", "configs: [en, fr], settings: {limit: ten}}"), [], "evaluations.hp.settings.limit: expected int or null, got str 'ten'"),
        (("", ""), ["evaluations.hp.settings.limit=0"], "evaluations.hp.settings.limit: must be at least 1, got 0"),
        (("", ""), ["evaluations.hp.settings.shots=-1"], "evaluations.hp.settings.shots: must be 0 or more"),
        (("title: t", "title: t\nloop: &x {again: *x}"), [], "loop.again: a YAML alias refers to itself"),
    ],
)
def test_recipe_escapes_wrong_types_and_cycles_exit_2_before_anything_is_written(tmp_path, edit, overrides, message):
    outside = tmp_path / "mybuild"
    outside.mkdir()
    (outside / "keep.txt").write_text("user data")
    path = tmp_path / "work" / "mine.yaml"
    path.parent.mkdir()
    path.write_text(RECIPE.replace(*edit) if edit[0] else RECIPE, encoding="utf-8")
    study = tmp_path / "work" / "study"
    result = runner.invoke(app, ["study", "run", str(path), "--out", str(study), *overrides])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and not study.exists()
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


def test_a_step_folder_outside_out_is_refused():
    from xbench.errors import InputError
    from xbench.study.checks import check_step_folder

    for bad in ("../x", "/abs", "a/../../b", ""):
        with pytest.raises(InputError, match="outside --out"):
            check_step_folder(bad, "build:x")
    check_step_folder("builds/quiz", "build:quiz")
    assert Path("builds/quiz").parts == ("builds", "quiz")


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "results.json")


@pytest.mark.parametrize("command", ["eval", "report", "study"])
def test_disk_full_is_one_line_exit_1_free_space_and_rerun(tmp_path, command, tiny_model_dir, sample_mmlu_dir, monkeypatch):
    evaluate = ["eval", "--model", str(tiny_model_dir), "--dataset", str(sample_mmlu_dir), "--configs", "en", "--limit", "2"]
    evaluate += ["--device", "cpu", "--out", str(tmp_path / "run"), "--quiet"]
    if command == "eval":
        monkeypatch.setattr("xbench.runner.evaluate.write_results", _no_space)
        args = evaluate
    elif command == "report":
        assert runner.invoke(app, evaluate).exit_code == 0
        monkeypatch.setattr("xbench.runner.report.write_tables", _no_space)
        args = ["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")]
    else:
        monkeypatch.setattr("xbench.study.run._write_record", _no_space)
        (tmp_path / "mine.yaml").write_text(RECIPE, encoding="utf-8")
        args = ["study", "run", str(tmp_path / "mine.yaml"), "--out", str(tmp_path / "study")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "error: no space left on the device writing results.json (No space left on device); free space and rerun" in " ".join(result.output.split())
    assert "Traceback" not in result.output
