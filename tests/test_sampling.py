"""``xbench eval --sample N --seed S``: seeded, reproducible, stratified, the same ids in every config."""

import random
from collections import Counter

import pytest

from xbench.errors import InputError
from xbench.runner.sampling import allocation, stratified_sample
from xbench.runner.settings import EvalSettings


def _rows():
    subjects = ["law"] * 60 + ["math"] * 30 + ["art"] * 10
    return [{"id": f"q{i}", "subject": s} for i, s in enumerate(subjects)]


def test_seeded_reproducible_and_independent_of_row_order():
    rows = _rows()
    first = stratified_sample(rows, 20, seed=3)
    assert first == stratified_sample(rows, 20, seed=3)
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert {r["id"] for r in stratified_sample(shuffled, 20, seed=3)} == {r["id"] for r in first}
    assert {r["id"] for r in stratified_sample(rows, 20, seed=4)} != {r["id"] for r in first}
    assert [r["id"] for r in first] == [r["id"] for r in rows if r in first]  # the rows' order


def test_strata_get_their_share():
    sample = stratified_sample(_rows(), 20, seed=0)
    assert Counter(r["subject"] for r in sample) == {"law": 12, "math": 6, "art": 2}
    assert allocation({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}  # largest remainder, ties by name
    assert len(stratified_sample(_rows(), 500, seed=0)) == 100
    by_category = [{"id": str(i), "category": "x" if i < 5 else "y"} for i in range(10)]
    assert Counter(r["category"] for r in stratified_sample(by_category, 4, seed=1)) == {"x": 2, "y": 2}


def test_settings_check_sample():
    with pytest.raises(InputError, match="--sample: must be at least 1"):
        EvalSettings(sample=0).checked()
    with pytest.raises(InputError, match="--sample and --limit"):
        EvalSettings(sample=5, limit=5).checked()


def test_help_says_limit_takes_the_first_rows():
    from typer.testing import CliRunner

    from xbench.cli import app

    text = " ".join(CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "300"}).output.split())
    assert "first N rows" in text and "--sample" in text and "stratified" in text


def test_eval_scores_the_same_sampled_ids_in_every_config(tiny_model, sample_mmlu_dir, tmp_path):
    from xbench.runner.evaluate import evaluate
    from xbench.runner.results import SAMPLES_FILE, read_samples
    from xbench.runner.transfer import run_comparisons

    for run in ("a", "b"):
        evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / run, configs=["en", "fr_gt_option"], sample=6, sample_seed=2, device="cpu")
    ids = {(run, c): [s.id for s in read_samples(tmp_path / run / c / SAMPLES_FILE)] for run in ("a", "b") for c in ("en", "fr_gt_option")}
    assert len(ids[("a", "en")]) == 6 and len({tuple(v) for v in ids.values()}) == 1
    records = run_comparisons([tmp_path / "a"], resamples=50)
    pull = records[0]["option_pull"]
    assert pull["n"] == 6 and set(pull["accuracy_by_languages"]) == {"en/fr"}
    assert pull["pick_rate"]["translated_correct"] == records[0]["accuracy"]
