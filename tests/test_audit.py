"""xbench audit: artifact baselines of any multiple-choice build."""

import json

import pytest
from typer.testing import CliRunner

import xbench
from xbench.audit import options_only_prompt
from xbench.cli import app
from xbench.cues import cue_hits, markdown_table, surface_baselines

runner = CliRunner()


def mc(question, choices, answer, **extra):
    return {"question": question, "choices": choices, "answer": answer, **extra}


def by_name(baselines):
    return {b.name: b for b in baselines}


def test_each_cue_on_a_hand_made_row():
    rows = [
        mc("Who is the mother of Ron Weasley?", ["Lily Potter", "Molly Weasley", "Narcissa Malfoy", "Petunia Dursley"], 1, id="surname"),
        mc("What type of spell is the Bat-Bogey Hex?", ["Charm", "Curse", "Hex", "Jinx"], 2, id="type"),
        mc("What colour is X's hair?", ["Black", "Brown", "Red", "Blond"], 0, id="none"),
    ]
    result = by_name(surface_baselines(rows))
    # surname and type rows are decided and right; the colour row is a four-way guess
    assert result["shared_surname"].decided == 1 and result["option_in_question"].decided == 1
    assert result["option_in_question"].accuracy == pytest.approx((0.25 + 1 + 0.25) / 3)
    assert result["shared_surname"].accuracy == pytest.approx((1 + 0.25 + 0.25) / 3)
    assert [result[f"always_{x}"].accuracy for x in "ABCD"] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    assert cue_hits(rows) == {"surname": ["shared_surname", "stem_in_question", "word_overlap"], "type": ["option_in_question", "word_overlap"]}


def test_a_family_of_candidates_gives_no_cue():
    row = mc("Who is the mother of Ron Weasley?", ["Ginny Weasley", "Molly Weasley", "Fleur Weasley", "Cedrella Weasley"], 1)
    result = by_name(surface_baselines([row]))
    assert result["shared_surname"].accuracy == 0.25 and result["shared_surname"].decided == 0


def test_priors_are_leave_one_out():
    rows = [mc(f"What type of spell is S{i}?", ["Charm", "Curse", "Hex", "Jinx"], 0, attribute="spell_type", entity=f"S{i}") for i in range(3)]
    rows.append(mc("What type of spell is T?", ["Charm", "Curse", "Hex", "Jinx"], 1, attribute="spell_type", entity="T"))
    prior = by_name(surface_baselines(rows))["answer_prior"]
    assert prior.decided == 4 and prior.decided_correct == 3  # the Curse row still sees three Charm keys


def test_longest_and_shortest_ignore_equal_lengths():
    row = mc("Q?", ["Oak", "Yew", "Elm", "Ash"], 3)
    result = by_name(surface_baselines([row]))
    assert result["longest"].decided == 0 and result["longest"].accuracy == 0.25


def test_options_only_prompt_has_no_question():
    assert options_only_prompt(["Oak", "Yew"], ["A", "B"]) == "The following are multiple choice questions (with answers).\n\nA. Oak\nB. Yew\nAnswer:"


def test_markdown_table_puts_builds_side_by_side():
    before = surface_baselines([mc("Q?", ["a", "bb", "c", "d"], 1)])
    after = surface_baselines([mc("Q?", ["a", "bb", "c", "d"], 0)])
    table = markdown_table({"before": before, "after": after})
    assert "| longest | longest option | 100.0% | 0.0% |" in table


def test_cli_audits_a_built_quiz_and_writes_json(tmp_path, cache_path):
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=cache_path, langs="fr")
    result = runner.invoke(app, ["audit", str(out), "--config", "fr", "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    records = json.loads((tmp_path / "a.json").read_text())
    assert {r["name"] for r in records} >= {"always_A", "shared_surname", "option_in_question", "longest", "best_cue"}
    assert all(r["n"] == 300 for r in records)


def test_cli_model_on_options_alone(tiny_model_dir, tmp_path, cache_path):
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=cache_path, langs="fr")
    result = runner.invoke(app, ["audit", str(out), "--model", str(tiny_model_dir), "--no-question", "--device", "cpu", "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    record = next(r for r in json.loads((tmp_path / "a.json").read_text()) if r["name"] == "model_no_question")
    assert record["n"] == 300 and record["decided"] == 300


def test_cli_errors_exit_2(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "missing: no such folder; expected a folder written by xbench build" in result.output
    result = runner.invoke(app, ["audit", str(tmp_path), "--model", "x"])
    assert result.exit_code == 2 and "--no-question" in result.output
