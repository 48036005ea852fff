"""xbench study: recipe schema, plan keys and skipping, paired statistics, the report."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xbench.cli import app
from xbench.errors import InputError
from xbench.study import load_recipe, make_plan, recipe_names, run_plan, stats
from xbench.study import run as study_run

RECIPES = ["fig2", "fig3", "fig4", "fig5a", "fig5b", "fig6", "fig7", "fig8", "fig9", "fig17", "fig18", "tb1", "tb2", "tb3", "tb8"]


def test_recipes_are_listed_in_natural_order():
    assert recipe_names() == RECIPES  # fig2 before fig17, tb3 before tb8


def test_every_experiment_of_the_issue_has_a_recipe_that_validates_and_plans():
    assert sorted(recipe_names()) == sorted(RECIPES)
    local_data = {
        "tb1": ["probes.mt.settings.testset=flores"],
        "fig2": ["probes.embed.settings.source=wiki.txt"],
        "fig17": ["probes.embed.settings.source=wiki.txt"],
    }
    for name in RECIPES:
        recipe = load_recipe(name, local_data.get(name))
        plan = make_plan(recipe)
        assert plan.steps[-1].id == "report" and len({s.id for s in plan.steps}) == len(plan.steps)
        assert all(len(s.key) == 16 for s in plan.steps)
        if name != "fig5b":
            smoke = make_plan(recipe, profile="smoke")
            assert smoke.models == ["SmolLM2-135M"] and smoke.steps[0].kind in ("model", "data")


def test_data_that_is_not_bundled_is_asked_for_by_its_key():
    with pytest.raises(InputError, match=r"builds\.tofu_full\.source=FILE"):
        make_plan(load_recipe("fig5b"), profile="smoke")
    with pytest.raises(InputError, match=r"tb1.yaml: probes\.mt\.settings\.testset: required; pass probes\.mt\.settings\.testset=PATH"):
        make_plan(load_recipe("tb1"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
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
    ("edit", "message"),
    [
        (("evaluations:", "evaluatons:"), "mine.yaml: evaluatons: unknown key"),
        (("  hp: {data: quiz, configs: [en, fr]}", "  hp: {data: quizz, configs: [en, fr]}"), "mine.yaml: evaluations.hp.data: no build named 'quizz'"),
        (
            ("  hp: {data: quiz, configs: [en, fr]}", "  hp: {data: quiz, configs: [en], models: [base, sentence]}"),
            "evaluations.hp.models: 'sentence' is neither",
        ),
        (("  hp: {data: quiz, configs: [en, fr]}", "  hp: {data: quiz, configs: [en], settings: {shot: 5}}"), "evaluations.hp.settings.shot: unknown setting"),
        (("evaluations:\n  hp: {data: quiz, configs: [en, fr]}\n", ""), "mine.yaml: evaluations: a recipe needs at least one evaluation or probe"),
        (("title: t\n", ""), "mine.yaml: title: missing"),
        (("x: language", "x: lang"), "mine.yaml: figure.x: 'lang'"),
    ],
)
def test_bad_recipes_exit_2_naming_file_and_key(tmp_path, edit, message):
    path = _write(tmp_path, GOOD.replace(*edit))
    result = CliRunner().invoke(app, ["study", "run", str(path), "--out", str(tmp_path / "study"), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "study").exists()


def test_overrides_set_dotted_keys_and_are_validated(tmp_path):
    recipe = load_recipe("tb2", ["evaluations.mmlu.settings.limit=50", "builds.mmlu.langs=[fr]"])
    assert recipe.data["evaluations"]["mmlu"]["settings"]["limit"] == 50 and recipe.data["builds"]["mmlu"]["langs"] == ["fr"]
    with pytest.raises(InputError, match=r"evaluations\.mmlu\.settings\.limt: unknown setting"):
        load_recipe("tb2", ["evaluations.mmlu.settings.limt=50"])
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        load_recipe("tb2", ["limit"])


def test_changing_one_setting_changes_exactly_the_dependent_step_keys():
    before = {s.id: s.key for s in make_plan(load_recipe("fig7")).steps}
    after = {s.id: s.key for s in make_plan(load_recipe("fig7", ["finetunes.sentence.settings.learning_rate=1.0e-5"])).steps}
    changed = {i for i in before if before[i] != after[i]}
    models = load_recipe("fig7").data["models"]
    slugs = [m.replace("/", "--") for m in models]
    expected = {f"finetune:sentence@{s}" for s in slugs} | {f"eval:hp/default@{s}+sentence" for s in slugs} | {"report"}
    assert changed == expected
    # a build setting reruns the build, the fine-tuning runs on it, their evaluations and the report
    after = {s.id: s.key for s in make_plan(load_recipe("fig7", ["builds.wiki2_en.seed=3"])).steps}
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {"build:wiki2_en", "report"} | {f"finetune:en@{s}" for s in slugs} | {f"eval:hp/default@{s}+en" for s in slugs}


def _fake_executors(monkeypatch, calls: list, fail: set | None = None):
    """Executors that write a marker file, record their call, and fail once on demand."""
    fail = fail if fail is not None else set()

    def fake(plan, step, out, resume):
        calls.append((step.id, resume))
        if step.id in fail:
            fail.discard(step.id)
            raise RuntimeError("crash")
        (out / step.out).mkdir(parents=True, exist_ok=True)
        (out / step.out / "done.txt").write_text(step.key)
        return {"units": 1}

    monkeypatch.setattr(study_run, "EXECUTORS", {k: fake for k in study_run.EXECUTORS})
    monkeypatch.setattr(study_run, "throughput_file", lambda: Path("/nonexistent-dir/throughput.json"))


def test_run_skips_unchanged_steps_reruns_dependents_and_resumes_after_a_crash(tmp_path, monkeypatch):
    calls: list = []
    _fake_executors(monkeypatch, calls, fail={"eval:hp/default@m+base"})
    recipe_path = _write(tmp_path, GOOD)
    out = tmp_path / "study"
    with pytest.raises(RuntimeError):
        run_plan(make_plan(load_recipe(recipe_path)), out)
    assert [c[0] for c in calls] == ["build:quiz", "eval:hp/default@m+base"]
    calls.clear()
    outcomes = run_plan(make_plan(load_recipe(recipe_path)), out)
    assert [(o.step, o.status) for o in outcomes] == [("build:quiz", "skipped"), ("eval:hp/default@m+base", "resumed"), ("report", "ran")]
    assert calls == [("eval:hp/default@m+base", True), ("report", False)]
    calls.clear()
    assert all(o.status == "skipped" for o in run_plan(make_plan(load_recipe(recipe_path)), out)) and calls == []
    run_plan(make_plan(load_recipe(recipe_path, ["evaluations.hp.settings.limit=3"])), out)
    assert [c[0] for c in calls] == ["eval:hp/default@m+base", "report"]
    calls.clear()
    (out / "evals/hp/default/m/base/done.txt").unlink()
    (out / "evals/hp/default/m/base").rmdir()  # an output removed by hand is rebuilt
    run_plan(make_plan(load_recipe(recipe_path, ["evaluations.hp.settings.limit=3"])), out)
    assert [c[0] for c in calls] == ["eval:hp/default@m+base"]


def test_run_refuses_a_folder_that_is_not_a_study(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["study", "run", "tb2", "--out", str(tmp_path / "mine")])
    assert result.exit_code == 2 and "not an xbench study folder" in result.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# --- statistics -------------------------------------------------------------------------------


def test_mcnemar_matches_statsmodels_and_a_hand_computed_case():
    from statsmodels.stats.contingency_tables import mcnemar

    # hand: b = 1, c = 5 discordant pairs -> p = 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7/64
    reference = [True] * 1 + [False] * 5 + [True] * 10
    other = [False] * 1 + [True] * 5 + [True] * 10
    assert stats.mcnemar_exact(reference, other) == stats.McNemar(1, 5, 14 / 64)
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(5, 300)
        a = [rng.random() < 0.6 for _ in range(n)]
        b = [rng.random() < 0.5 for _ in range(n)]
        test = stats.mcnemar_exact(a, b)
        only_a, only_b = sum(x and not y for x, y in zip(a, b)), sum(y and not x for x, y in zip(a, b))
        assert (test.b, test.c) == (only_a, only_b)
        table = [[sum(x and y for x, y in zip(a, b)), only_a], [only_b, sum(not x and not y for x, y in zip(a, b))]]
        assert test.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9, abs=1e-15)
    assert stats.mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_binomial_test_and_stderr_match_scipy():
    from scipy.stats import binomtest

    for successes, n in [(30, 100), (5, 20), (2600, 10000), (0, 5), (10, 10), (14042 // 4 + 60, 14042)]:
        assert stats.binomial_test_greater(successes, n, 0.25) == pytest.approx(binomtest(successes, n, 0.25, alternative="greater").pvalue, rel=1e-9)
    assert stats.binomial_stderr(30, 100) == pytest.approx((0.3 * 0.7 / 100) ** 0.5)
    assert stats.at_chance(27, 100, 0.25) and not stats.at_chance(40, 100, 0.25)


def test_paired_bootstrap_is_paired_seeded_and_agrees_with_scipy():
    import numpy as np
    from scipy.stats import bootstrap

    rng = random.Random(0)
    base = [float(rng.random() < 0.7) for _ in range(400)]
    other = [b if rng.random() < 0.8 else 1 - b for b in base]
    mine = stats.paired_bootstrap_gap(base, other, resamples=4000, seed=1)
    assert mine == stats.paired_bootstrap_gap(base, other, resamples=4000, seed=1)
    assert mine.estimate == pytest.approx(sum(other) / 400 - sum(base) / 400)
    theirs = bootstrap((np.array(other) - np.array(base),), np.mean, n_resamples=4000, method="percentile", random_state=1).confidence_interval
    assert mine.low == pytest.approx(theirs.low, abs=0.01) and mine.high == pytest.approx(theirs.high, abs=0.01)
    # pairing matters: identical answers in both languages give a zero-width interval
    assert stats.paired_bootstrap_gap(base, base) == stats.Interval(0.0, 0.0, 0.0)


# --- report -------------------------------------------------------------------------------------


def _fake_eval_outputs(monkeypatch, correct_by_config: dict[str, list[bool]]):
    from xbench.runner.results import EVAL, PromptSettings, RunResult, Sample, accuracy, write_results

    def fake_eval(plan, step, out, resume):
        for config in step.settings["configs"]:
            folder = out / step.out / config
            folder.mkdir(parents=True)
            flags = correct_by_config[config]
            samples = [Sample(f"q{i}", "", "h", [0.25] * 4, [-1.4] * 4, int(c), 1, c) for i, c in enumerate(flags)]
            (folder / "samples.jsonl").write_text("".join(json.dumps(asdict(s)) + "\n" for s in samples))
            write_results(
                folder,
                RunResult(
                    EVAL,
                    "m",
                    None,
                    "d",
                    None,
                    config,
                    "test",
                    asdict(PromptSettings(0, "english", "ABCD", "none", "maxprob")),
                    0,
                    len(flags),
                    {"acc": accuracy(flags)},
                    {},
                    "sig",
                ),
            )
        return {"questions": 1}

    monkeypatch.setattr(study_run, "EXECUTORS", {**study_run.EXECUTORS, "build": lambda *a: (a[2] / a[1].out).mkdir(parents=True) or {}, "eval": fake_eval})
    monkeypatch.setattr(study_run, "throughput_file", lambda: Path("/nonexistent-dir/throughput.json"))


def test_report_gaps_pvalues_chance_flag_and_files(tmp_path, monkeypatch):
    english = [True] * 80 + [False] * 20
    french = [True] * 50 + [False] * 30 + [True] * 5 + [False] * 15  # 30 lost, 5 gained on the same questions
    _fake_eval_outputs(monkeypatch, {"en": english, "fr": french})
    recipe = _write(
        tmp_path, GOOD.replace("ylabel: accuracy}", "ylabel: accuracy, chance: 0.25}") + "published:\n  - {figure: Fig. 1, value: 0.61, where: {config: fr}}\n"
    )
    out = tmp_path / "study"
    run_plan(make_plan(load_recipe(recipe)), out)
    rows = {r["config"]: r for r in json.loads((out / "report" / "results.json").read_text())["rows"]}
    assert rows["en"]["value"] == 0.8 and rows["en"]["stderr"] == pytest.approx((0.8 * 0.2 / 100) ** 0.5)
    fr = rows["fr"]
    assert fr["gap"] == pytest.approx(-0.25) and fr["gap_low"] < -0.25 < fr["gap_high"] < 0
    assert fr["p_value"] == pytest.approx(stats.mcnemar_exact(english, french).p_value) and fr["p_value"] < 1e-4
    assert fr["paper"] == 0.61 and fr["at_chance"] is False and fr["reference"] == "default/en"
    markdown = (out / "report" / "results.md").read_text()
    assert "| hp | default | m | base | fr | acc | 0.550 | 0.050 | 100 | 0.610 | -0.250 |" in markdown
    assert (out / "report" / "results.csv").read_text().splitlines()[0].startswith("evaluation,variant,model,training,config")
    assert (out / "report" / "figure.png").stat().st_size > 1000
    before = (out / "report" / "results.md").read_bytes()
    result = CliRunner().invoke(app, ["study", "report", str(out)])
    assert result.exit_code == 0 and (out / "report" / "results.md").read_bytes() == before


def test_report_flags_a_model_at_chance(tmp_path, monkeypatch):
    _fake_eval_outputs(monkeypatch, {"en": [True] * 26 + [False] * 74, "fr": [True] * 24 + [False] * 76})
    recipe = _write(tmp_path, GOOD.replace("ylabel: accuracy}", "ylabel: accuracy, chance: 0.25}"))
    run_plan(make_plan(load_recipe(recipe)), tmp_path / "study")
    assert "at chance" in (tmp_path / "study" / "report" / "results.md").read_text()


def test_study_report_on_a_plain_folder_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["study", "report", str(tmp_path)])
    assert result.exit_code == 2 and "not an xbench study folder" in result.output


def test_dry_run_plans_translation_work_questions_and_time_and_writes_nothing(tmp_path, monkeypatch):
    from xbench.study.estimate import estimate_plan

    monkeypatch.setattr(study_run, "throughput_file", lambda: tmp_path / "throughput.json")
    (tmp_path / "throughput.json").write_text(json.dumps({"eval|SmolLM2-135M": {"unit": "questions", "per_second": 2.0}}))
    out = tmp_path / "study"
    plan = make_plan(load_recipe("tb2"), profile="smoke")
    plan.cache = str(tmp_path / "c.sqlite")
    estimates = {e.step: e for e in estimate_plan(plan, out)}
    build = estimates["build:mmlu"]
    assert build.status == "run" and build.work["engines"] == "pseudo" and build.work["characters"] > 1000 and build.work["requests"] >= 1
    assert build.work["cached"] == 0 and build.seconds is None
    english = estimates["eval:mmlu/ABCD@SmolLM2-135M+base"]
    assert english.work == {"questions": 8} and english.seconds == 4.0  # en + mixup, 4 questions each, 2 per second
    assert estimates["eval:mmlu/abcd@SmolLM2-135M+base"].work == {"questions": 4}
    assert not out.exists()
    result = CliRunner().invoke(app, ["study", "run", "tb2", "--profile", "smoke", "--out", str(out), "--cache", str(tmp_path / "c.sqlite"), "--dry-run"])
    assert result.exit_code == 0 and "estimated time 18s from measured throughput; 1 step(s) not measured yet" in result.output, result.output
    assert not out.exists()
    no_out = CliRunner().invoke(app, ["study", "run", "tb2", "--profile", "smoke", "--cache", str(tmp_path / "c.sqlite"), "--dry-run"])
    assert no_out.exit_code == 0 and "estimated time 18s from measured throughput" in no_out.output, no_out.output
    missing = CliRunner().invoke(app, ["study", "run", "tb2", "--profile", "smoke"])
    assert missing.exit_code == 2 and "--out: give the study folder" in missing.output, missing.output


def test_configs_map_to_language_and_format_including_tofu():
    from xbench.study.report import is_english_reference, language_and_format

    assert language_and_format("fr_gt_option") == ("fr", "gt_option") and language_and_format("de") == ("de", "full")
    assert language_and_format("mixup") == ("en", "mixup") and not is_english_reference("mixup")
    assert language_and_format("forget10_perturbed_es") == ("es", "full")
    assert is_english_reference("forget10_perturbed_en") and is_english_reference("en") and not is_english_reference("fr")


def test_dry_run_json_prints_the_resolved_plan_on_stdout_without_out(tmp_path, monkeypatch):
    monkeypatch.setattr(study_run, "throughput_file", lambda: tmp_path / "throughput.json")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["study", "run", "tb3", "--profile", "smoke", "--cache", str(tmp_path / "c.sqlite"), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["recipe"] == "tb3" and plan["profile"] == "smoke"
    steps = {s["id"]: s for s in plan["steps"]}
    assert all({"id", "kind", "model", "settings"} <= set(s) for s in plan["steps"])
    tune = next(s for s in plan["steps"] if s["kind"] == "finetune")
    assert tune["model"] == "SmolLM2-135M"
    assert tune["settings"]["max_steps"] == 2 and tune["settings"]["optimizer_steps"] == 2
    assert tune["settings"]["packing"] is True and tune["settings"]["max_length"] == 128
    assert tune["settings"]["learning_rate"] is not None and tune["settings"]["recipe"] == "study"
    ev = next(s for s in steps.values() if s["kind"] == "eval")
    assert ev["settings"]["protocol"] == "study" and ev["settings"]["strategy"] == "maxprob"
    assert ev["settings"]["first_token_comparison"].startswith("the greedy first token")
    assert isinstance(ev["settings"]["questions"], int)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.sqlite"] or sorted(p.name for p in tmp_path.iterdir()) == []


def test_json_without_dry_run_and_run_without_out_exit_2():
    result = CliRunner().invoke(app, ["study", "run", "tb3", "--profile", "smoke", "--json"])
    assert result.exit_code == 2 and "--json: only with --dry-run" in result.output
    result = CliRunner().invoke(app, ["study", "run", "tb3", "--profile", "smoke"])
    assert result.exit_code == 2 and "--out: give the study folder" in result.output
