"""What a new user meets first: CLI conventions, honest cards, progress, warnings, reports and plots."""

import csv
import dataclasses
import io
import json

import pytest
from helpers import write_jsonl
from typer.testing import CliRunner

import xbench
from xbench.cli import app
from xbench.progress import ProgressDisplay
from xbench.runner.diagnostics import answer_flags
from xbench.runner.results import EVAL, Metric, PromptSettings, RunResult, eval_signature

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("newcomer") / "mmlu_sample"
    xbench.build("mmlu_mixup", out=out, source="sample", translator="pseudo", langs="fr", formats="full,mixup", cache=out.parent / "c.sqlite")
    return out


def test_version_and_short_help():
    version = invoke("--version")
    assert version.exit_code == 0 and version.output.startswith(f"xbench {xbench.__version__} (xbench-crossling)")
    short = invoke("build", "-h")
    assert short.exit_code == 0 and "Usage: " in short.output


def test_help_shows_flags_as_flags_and_every_default():
    text = " ".join(invoke("build", "--help").output.split())
    assert "--dry-run Report segments" in text and "<bool>" not in text
    assert "[default: google for mmlu_mixup, tofu and wikitext_mixed (needs network)" in text
    assert "[required unless --dry-run]" in text and "[default: 0]" in text
    eval_help = " ".join(invoke("eval", "--help").output.split())
    assert "--log-samples" in eval_help and "--threads" in eval_help and "[required]" in eval_help


def test_build_help_lists_the_families():
    from xbench.builders import families

    text = " ".join(invoke("build", "--help").output.split())
    assert f"Dataset family: {', '.join(sorted(families()))}." in text


def test_engines_keep_their_brackets():
    result = invoke("engines")
    assert result.exit_code == 0 and "deterministic '[fr] text', offline" in result.output


def test_env_lists_versions_for_bug_reports():
    result = invoke("env")
    assert result.exit_code == 0
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["xbench"].strip() == xbench.__version__ and "python" in lines and "torch" in lines


def test_sample_pseudo_build_says_so_first_and_is_not_pushed(sample_build):
    body = (sample_build / "README.md").read_text().split("---\n", 2)[2]
    assert body.lstrip().startswith(
        "**NOT FOR EVALUATION: built from the small bundled sample, not the full source dataset; 'translations' are pseudo placeholders"
    )
    assert "loads the default config, `mixup`" in body
    result = invoke("push", sample_build, "--repo", "org/name")
    assert result.exit_code == 2 and "NOT FOR EVALUATION" in result.output and "Pass --force to push it anyway" in result.output


def test_real_build_card_has_no_notice(tmp_path):
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, langs="fr", cache=tmp_path / "c.sqlite")
    assert "NOT FOR EVALUATION" not in (out / "README.md").read_text()


def test_info_lists_configs_splits_rows_and_signature_unwrapped(sample_build):
    result = invoke("info", sample_build)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["MMLU in mixed languages (xbench)", f"folder: {sample_build}"]  # the title once, not "(xbench) (folder)"
    assert "build signature: xbench:mmlu_mixup|translator:pseudo|seed:0|v:" + xbench.__version__ in lines
    assert any(line.startswith("NOT FOR EVALUATION") and line.endswith("For layout checks and tests only.") for line in lines)  # one line, not wrapped
    rows = [" ".join(line.replace("│", " ").split()) for line in lines]
    assert "fr_full test 40" in rows and "dev 20" in rows and "mixup test 40 yes" in rows
    missing = invoke("info", sample_build / "nope")
    assert missing.exit_code == 2 and "no such folder; expected a folder written by xbench build" in missing.output


def test_plain_progress_advances_per_step_never_overshoots_and_quiet_is_silent():
    stream = io.StringIO()
    with ProgressDisplay("scoring {key}", stream=stream, tty=False, interval=0) as shown:
        for done in range(1, 4):
            shown.update("fr", done, 3)
        shown.advance("de", 5, 4)
    assert stream.getvalue().splitlines()[:3] == ["scoring fr: 1/3 (33%) 0m00s", "scoring fr: 2/3 (67%) 0m00s", "scoring fr: 3/3 (100%) 0m00s"]
    assert stream.getvalue().splitlines()[3] == "scoring de: 4/4 (100%) 0m00s"
    silent = io.StringIO()
    with ProgressDisplay("scoring {key}", stream=silent, tty=False, quiet=True, interval=0) as shown:
        shown.update("fr", 1, 3)
        shown.note("wrote config fr")
    assert silent.getvalue() == ""


def test_flags_for_one_letter_and_chance():
    flags = answer_flags([0] * 296 + [1, 2, 3, 1], "ABCD", 0.26, 0.025)
    assert flags == [
        "at or near chance: accuracy 0.260 is within 2 standard errors of 0.25 (4 options)",
        "answers 'A' to 296 of 300 questions (99%): the model may not be reading the options",
    ]
    assert answer_flags([0, 1, 2, 3] * 75, "ABCD", 0.9, 0.017) == []
    assert answer_flags([1] * 100, "ABCD", 0.05, 0.02)[0].startswith("below chance")


def _result(model, config, value, n=100, flags=()):
    prompt = PromptSettings(0, "english", "ABCD", "none", "maxprob")
    return RunResult(
        kind=EVAL,
        model=model,
        model_revision=None,
        dataset="hp_quiz",
        dataset_revision=None,
        config=config,
        split="test",
        settings=dataclasses.asdict(prompt),
        seed=0,
        n_samples=n,
        metrics={"acc": Metric(value, (value * (1 - value) / (n - 1)) ** 0.5)},
        per_subject={},
        signature=eval_signature("hp_quiz", config, prompt, build="xbench:hp_quiz|translator:memory|seed:0|v:0.1.0"),
        build_signature="xbench:hp_quiz|translator:memory|seed:0|v:0.1.0",
        flags=list(flags),
    )


def test_signature_names_the_build_and_revision():
    prompt = PromptSettings(0, "english", "ABCD", "none", "maxprob")
    sig = eval_signature("org/hp", "fr", prompt, build="xbench:hp_quiz|translator:memory,google|seed:3|v:0.1.0", revision="0123456789abcdef")
    assert (
        sig
        == "xbench:org/hp|cfg:fr|rev:0123456789ab|build:hp_quiz/memory,google/seed:3/v:0.1.0|shots:0|demos:english|ids:ABCD|instr:none|strategy:maxprob|v:"
        + xbench.__version__
    )


def test_report_writes_markdown_csv_json_and_one_figure_for_two_models(tmp_path):
    results = [_result(f"/home/me/models/{m}", c, v) for m in ("A-135M", "B-360M") for c, v in (("en", 0.5), ("fr", 0.4), ("mixup", 0.3))]
    results[-1] = _result("/home/me/models/B-360M", "mixup", 0.25, flags=["answers 'A' to 99 of 100 questions (99%): ..."])
    runs = []
    for r in results:
        folder = tmp_path / "runs" / r.model.split("/")[-1] / r.config
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(r.to_dict()))
        runs.append(folder.parent)
    result = invoke("report", *dict.fromkeys(runs), "--out", tmp_path / "rep", "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    assert "warning: /home/me/models/B-360M mixup: answers 'A'" in result.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| en | fr | mixup |" in md and "0.500 ± 0.050 (n=100)" in md and "\\|" in md
    rows = list(csv.DictReader((tmp_path / "rep" / "report.csv").open()))
    assert len(rows) == 6 and rows[0]["n"] == "100" and rows[0]["stderr"].startswith("0.05")
    records = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert records[0]["build_signature"] == "xbench:hp_quiz|translator:memory|seed:0|v:0.1.0"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy.pdf", "accuracy.png", "gap.pdf", "gap.png"]


def test_short_model_names_in_plots():
    from xbench.runner.plots import short_model_name

    models = ["/home/me/ckpt/SmolLM2-135M", "HuggingFaceTB/SmolLM2-360M"]
    assert [short_model_name(m, models) for m in models] == ["SmolLM2-135M", "SmolLM2-360M"]
    clash = ["/a/final", "/b/final"]
    assert short_model_name("/a/final", clash) == "/a/final"


def test_mt_eval_infers_directions_from_jsonl(tmp_path):
    testset = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"source_lang": "de", "target_lang": "en", "source": "Hallo Welt", "reference": "Hello world"},
            {"source_lang": "de", "target_lang": "en", "source": "Guten Morgen", "reference": "Good morning"},
        ],
    )
    hyps = tmp_path / "hyps"
    hyps.mkdir()
    (hyps / "de-en.txt").write_text("Hello world\nGood morning\n")
    result = invoke("mt-eval", "--testset", testset, "--hypotheses", hyps)
    assert result.exit_code == 0, result.output
    assert "de-en" in result.output and "en-fr" not in result.output
    missing = invoke("mt-eval", "--testset", testset, "--directions", "en-fr", "--model", "/nonexistent/model")
    assert missing.exit_code == 2 and "no en->fr data" in missing.output  # before any model loads


def test_bare_build_with_the_web_default_fails_fast_offline(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("socket.create_connection", unreachable)
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    result = invoke("build", "mmlu_mixup", "--source", "sample", "--out", tmp_path / "o", "--cache", tmp_path / "c.sqlite")
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "the default translator of mmlu_mixup is google, which needs the network" in message
    assert "offline, choose --translator from pseudo (layout checks), memory" in message
    assert not (tmp_path / "o").exists()
