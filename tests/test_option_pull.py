"""The English-option preference of the mixed formats: planted bias recovered, ~0 without one."""

import math

import numpy as np

from xbench.runner import option_pull
from xbench.runner.results import Sample


def _synthetic(n, beta, seed=0):
    """Items with random option languages; the model picks the correct option with weight 3, each option times e^beta if English."""
    rng = np.random.default_rng(seed)
    samples, rows = [], {}
    for i in range(n):
        langs = ["en" if x else "fr" for x in rng.random(4) < 0.5]
        target = int(rng.integers(4))
        weights = np.array([(3.0 if j == target else 1.0) * math.exp(beta if langs[j] == "en" else 0.0) for j in range(4)])
        pred = int(rng.choice(4, p=weights / weights.sum()))
        samples.append(Sample(id=f"q{i}", subject="s", prompt_hash="h", probs=[], logprobs=[], prediction=pred, target=target, correct=pred == target))
        rows[f"q{i}"] = {"question_lang": "en", "choice_langs": langs}
    return samples, rows


def test_a_planted_english_bias_is_recovered():
    samples, rows = _synthetic(3000, math.log(4))
    pref = option_pull.option_pull(samples, rows, resamples=300)["english_preference"]
    assert pref["low"] > 0.8 and pref["value"] > 1.0
    assert pref["low"] < pref["value"] < pref["high"]


def test_no_bias_gives_about_zero_with_an_interval_over_zero():
    samples, rows = _synthetic(3000, 0.0, seed=1)
    pref = option_pull.option_pull(samples, rows, resamples=300)["english_preference"]
    assert abs(pref["value"]) < 0.15
    assert pref["low"] < 0 < pref["high"]


def test_hand_computed_tables_rates_and_accuracy_by_languages():
    rows = {"a": {"question_lang": "en", "choice_langs": ["fr", "en", "en", "en"]}, "b": {"question_lang": "en", "choice_langs": ["en", "fr", "en", "en"]}}
    samples = [
        Sample(id="a", subject="s", prompt_hash="h", probs=[], logprobs=[], prediction=1, target=0, correct=False),
        Sample(id="b", subject="s", prompt_hash="h", probs=[], logprobs=[], prediction=0, target=0, correct=True),
    ]
    tables = option_pull.item_tables(samples, {k: r["choice_langs"] for k, r in rows.items()})
    # item a: correct option translated, not picked; wrong: English picked 1, English not 2
    assert tables[0].tolist() == [[1, 2, 0, 0], [0, 0, 0, 1]]
    assert tables[1].tolist() == [[0, 2, 0, 1], [1, 0, 0, 0]]
    out = option_pull.option_pull(samples, rows, resamples=50)
    assert out["pick_rate"] == {"en_correct": 1.0, "translated_correct": 0.0, "en_wrong": 0.2, "translated_wrong": 0.0}
    assert out["accuracy_by_languages"] == {"en/en": {"accuracy": 1.0, "n": 1}, "en/fr": {"accuracy": 0.0, "n": 1}}
    # MH: correct stratum a=1,b=0,c=0,d=1, n=2 -> 1/2 over 0; wrong stratum a=1,b=4,c=0,d=1, n=6 -> 1/6 over 0: log(inf)
    assert math.isinf(out["english_preference"]["value"])


def test_mixed_config_names():
    assert all(map(option_pull.is_mixed, ["fr_gt_option", "de_one_wrong", "ja_three_wrong", "fr_options", "mixup", "mixup_fr_de"]))
    assert not any(map(option_pull.is_mixed, ["en", "fr_full", "fr_question", "fr_question_gt"]))


def test_report_reads_option_languages_from_the_build_rows(tmp_path, monkeypatch):
    import json

    from test_transfer import _write_run

    from xbench import built_dataset
    from xbench.runner import transfer

    samples, rows = _synthetic(200, math.log(4), seed=2)
    _write_run(tmp_path / "run", "en", samples)
    _write_run(tmp_path / "run", "fr_gt_option", samples)
    monkeypatch.setattr(built_dataset, "load_split", lambda dataset, config, split: [{"id": k, **r} for k, r in rows.items()])
    records = transfer.run_comparisons([tmp_path / "run"], resamples=100)
    pull = records[0]["option_pull"]
    assert pull["n"] == 200 and pull["english_preference"]["value"] > 0.5
    paths = transfer.write_transfer(records, tmp_path / "out")
    assert "English-option preference (mixed formats):" in paths[0].read_text()
    assert json.loads(paths[2].read_text())["comparisons"][0]["option_pull"]["pick_rate"]["en_correct"] == pull["pick_rate"]["en_correct"]
    assert "option_pull" not in paths[1].read_text().splitlines()[0]


def test_rows_without_choice_langs_give_a_reason(monkeypatch):
    from xbench import built_dataset

    samples, _ = _synthetic(3, 0.0)
    monkeypatch.setattr(built_dataset, "load_split", lambda dataset, config, split: [{"id": s.id} for s in samples])
    assert "choice_langs" in option_pull.build_option_pull("quiz", "fr_gt_option", "test", samples)["reason"]
