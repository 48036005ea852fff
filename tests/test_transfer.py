"""Per-item transfer metrics (xbench.runner.transfer) against hand-computed tables, scipy and statsmodels."""

import math
import random

import numpy as np
import pytest

from xbench.errors import InputError
from xbench.runner import transfer
from xbench.runner.results import Sample


def _samples(correct, predictions, probs=True):
    out = []
    for i, (right, pred) in enumerate(zip(correct, predictions)):
        p = [0.1] * 4
        p[pred] = 0.7
        out.append(Sample(id=f"q{i}", subject="s", prompt_hash="h", probs=p if probs else [], logprobs=[], prediction=pred, target=0, correct=bool(right)))
    return out


# 6 items, target 0 everywhere. Hand table: both right {0, 2}; English right {0, 1, 2, 5};
# either right {0, 1, 2, 3, 5}; right in English only {1, 5} (b=2); in L only {3} (c=1);
# same option chosen at items 0, 2, 4.
EN = _samples([1, 1, 1, 0, 0, 1], [0, 0, 0, 1, 2, 0])
FR = _samples([1, 0, 1, 1, 0, 0], [0, 1, 0, 0, 2, 3])


def test_metrics_match_the_hand_computed_table():
    c = transfer.compare("fr", EN, FR, resamples=500)
    assert c.n == 6
    assert c.accuracy == pytest.approx(3 / 6) and c.accuracy_en == pytest.approx(4 / 6)
    assert c.gap.value == pytest.approx(-1 / 6)
    assert c.transfer.value == pytest.approx(2 / 4)
    assert c.overall.value == pytest.approx(2 / 6)
    assert c.coverlap == pytest.approx(2 / 5)
    assert c.consistency == pytest.approx(3 / 6)
    assert (c.mcnemar_b, c.mcnemar_c) == (2, 1)
    assert c.mcnemar_p == pytest.approx(1.0)  # min(1, 2 * P(X <= 1), X ~ Bin(3, 1/2)) = min(1, 2 * 4/8)
    assert c.gap.low <= c.gap.value <= c.gap.high
    assert 0 <= c.transfer.low <= c.transfer.value <= c.transfer.high <= 1


def test_items_are_matched_by_id_not_by_order():
    shuffled = list(reversed(FR))
    assert transfer.compare("fr", EN, shuffled, resamples=200) == transfer.compare("fr", EN, FR, resamples=200)


def test_rankc_follows_its_definition():
    # Qi et al. 2023: w_j = e^(N-j) / sum_k e^(N-k); P@j = |top_j & top_j'| / j.
    same = np.array([[0.6, 0.3, 0.1]])
    swapped = np.array([[0.3, 0.6, 0.1]])  # P@1 = 0, P@2 = 1, P@3 = 1
    e = math.e
    assert transfer.rank_consistency(same, same) == pytest.approx(1.0)
    assert transfer.rank_consistency(same, swapped) == pytest.approx((e + 1) / (e**2 + e + 1))
    reversed_ = np.array([[0.1, 0.3, 0.6]])  # P@1 = 0, P@2 = 1/2, P@3 = 1
    assert transfer.rank_consistency(same, reversed_) == pytest.approx((e * 0.5 + 1) / (e**2 + e + 1))
    both = transfer.rank_consistency(np.vstack([same, same]), np.vstack([same, swapped]))
    assert both == pytest.approx((1 + (e + 1) / (e**2 + e + 1)) / 2)


def test_rankc_is_not_available_without_probabilities():
    c = transfer.compare("fr", EN, _samples([1, 0, 1, 1, 0, 0], [0, 1, 0, 0, 2, 3], probs=False), resamples=100)
    assert c.rankc is None and "no option probabilities" in c.rankc_reason
    assert c.transfer.value == pytest.approx(0.5)  # the other metrics still come


def test_mismatched_items_are_refused_naming_both():
    with pytest.raises(InputError, match=r"runA/en and runA/fr did not score the same items .*'q5'"):
        transfer.compare("fr", EN, FR[:5], names=("runA/en", "runA/fr"))


def test_different_builds_are_refused_naming_both_signatures():
    with pytest.raises(InputError, match="base scored build sigA but tuned scored build sigB"):
        transfer.check_same_build({"base": "sigA", "tuned": "sigB"})
    transfer.check_same_build({"base": "sigA", "tuned": "sigA"})


def test_mcnemar_agrees_with_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = random.Random(3)
    for _ in range(30):
        b, c = rng.randrange(0, 60), rng.randrange(0, 60)
        expected = mcnemar([[10, b], [c, 10]], exact=True).pvalue
        assert transfer.mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_paired_bootstrap_is_seeded_and_agrees_with_scipy():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(7)
    base = (rng.random(400) < 0.7).astype(float)
    other = np.where(rng.random(400) < 0.8, base, 1 - base)
    ones = np.ones_like(base)
    (mine,) = transfer.paired_bootstrap([other - base], [ones], resamples=4000, seed=1)
    assert mine == transfer.paired_bootstrap([other - base], [ones], resamples=4000, seed=1)[0]
    ref = bootstrap((base, other), lambda a, b: np.mean(b - a), paired=True, vectorized=False, n_resamples=4000, method="percentile", random_state=1)
    assert mine.value == pytest.approx(np.mean(other - base))
    assert mine.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert mine.high == pytest.approx(ref.confidence_interval.high, abs=0.01)
    assert transfer.paired_bootstrap([base - base], [ones])[0] == transfer.Estimate(0.0, 0.0, 0.0)


def test_best_minus_worst():
    cs = [transfer.compare(name, EN, FR if name == "fr" else EN, resamples=50) for name in ("fr", "de")]
    assert transfer.best_minus_worst(cs) == pytest.approx(4 / 6 - 3 / 6)


def _write_run(folder, config, samples, build="b1", model="m"):
    from xbench.runner.results import Metric, RunResult, write_results, write_samples

    settings = {"shots": 0, "demos": "english", "ids": "ABCD", "instruction": "none", "strategy": "maxprob", "protocol": "study"}
    acc = sum(s.correct for s in samples) / len(samples)
    result = RunResult(
        "eval",
        model,
        None,
        "quiz",
        None,
        config,
        "test",
        settings,
        0,
        len(samples),
        {"acc": Metric(acc, 0.1)},
        {},
        "sig",
        build_signature=build,
        git_commit=None,
        packages={},
    )
    (folder / config).mkdir(parents=True)
    write_samples(folder / config, samples)
    write_results(folder / config, result)


def test_run_comparisons_and_the_report_files(tmp_path):
    import json

    _write_run(tmp_path / "run", "en", EN)
    _write_run(tmp_path / "run", "fr", FR)
    records = transfer.run_comparisons([tmp_path / "run"], resamples=200)
    assert [r["config"] for r in records] == ["fr"]
    assert records[0]["transfer"]["value"] == pytest.approx(0.5) and records[0]["best_minus_worst"] == 0.0
    assert transfer.warnings(records) and "includes 0 at n=6" in transfer.warnings(records)[0]
    paths = transfer.write_transfer(records, tmp_path / "out")
    document = json.loads(paths[2].read_text())
    assert document["definitions"]["transfer"]["source"].startswith("ECLeKTic")
    assert document["comparisons"][0]["coverlap"] == pytest.approx(0.4)
    assert "| m | fr | 6 | 0.500 | 0.667 |" in paths[0].read_text()


def test_runs_of_different_builds_or_an_empty_folder_exit_2(tmp_path):
    from typer.testing import CliRunner

    from xbench.cli import app

    _write_run(tmp_path / "a", "en", EN, build="sigA")
    _write_run(tmp_path / "b", "fr", FR, build="sigB")
    with pytest.raises(InputError, match=r"scored build sigA but .* scored build sigB"):
        transfer.run_comparisons([tmp_path / "a", tmp_path / "b"])
    result = CliRunner().invoke(app, ["report", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2 and "sigA" in result.output and "sigB" in result.output
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(app, ["report", str(tmp_path / "empty")]).exit_code == 2


def test_cell_bootstrap_matches_the_item_bootstrap_of_binary_scores():
    rng = np.random.default_rng(11)
    en = (rng.random(600) < 0.6).astype(float)
    fr = np.where(rng.random(600) < 0.75, en, 1 - en)
    cells = transfer.cell_bootstrap(en, fr, resamples=4000, seed=2)
    items = transfer.paired_bootstrap([fr - en, en * fr, en * fr], [np.ones(600), en, np.ones(600)], resamples=4000, seed=2)
    for a, b in zip(cells, items):
        assert a.value == pytest.approx(b.value)
        assert a.low == pytest.approx(b.low, abs=0.012) and a.high == pytest.approx(b.high, abs=0.012)
