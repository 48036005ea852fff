"""xbench eval under rebuilds, crashes, changed settings and bad input: no stale rows, no mixed samples, no traceback."""

import dataclasses
import functools
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import write_jsonl, write_xbench_card
from runner_fixtures import byte_level_tokenizer, tiny_llama
from typer.testing import CliRunner

import xbench
from xbench import built_dataset
from xbench.cli import app
from xbench.runner.evaluate import evaluate
from xbench.runner.model import load_model
from xbench.runner.results import PromptSettings
from xbench.runner.resume import resume_key


def _samples(run, config):
    return [json.loads(line) for line in (run / config / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def _sha256sum_listing(folder, config):
    """What `cd folder && sha256sum config/* | sha256sum` prints: the documented content hash."""
    lines = "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {config}/{f.name}\n" for f in sorted((folder / config).iterdir()))
    return hashlib.sha256(lines.encode()).hexdigest()


# --- item 0: a local build is read from its own files ------------------------------------------


def test_rebuild_in_place_then_eval_scores_the_new_rows(tiny_model, tmp_path):
    hp = tmp_path / "hp"
    xbench.build("hp_quiz", out=hp, langs="fr", cache=tmp_path / "c.sqlite")  # the published French quiz
    first = evaluate(tiny_model, str(hp), out=tmp_path / "run1", configs=["fr"], limit=4)[0]
    xbench.build("hp_quiz", out=hp, langs="fr", translator="pseudo", cache=tmp_path / "c.sqlite")  # same folder, new rows
    second = evaluate(tiny_model, str(hp), out=tmp_path / "run2", configs=["fr"], limit=4)[0]

    assert first.dataset_hash != second.dataset_hash == _sha256sum_listing(hp, "fr")
    assert first.signature != second.signature and f"|data:{second.dataset_hash[:12]}|" in second.signature
    old, new = _samples(tmp_path / "run1", "fr"), _samples(tmp_path / "run2", "fr")
    assert all(a["id"] == b["id"] and a["prompt_hash"] != b["prompt_hash"] for a, b in zip(old, new))
    # the second run scored what a folder that was never evaluated before holds
    fresh = tmp_path / "elsewhere" / "never_seen"
    fresh.parent.mkdir()
    os.rename(hp, fresh)
    evaluate(tiny_model, str(fresh), out=tmp_path / "run3", configs=["fr"], limit=4)
    assert _samples(tmp_path / "run3", "fr") == new
    assert built_dataset.load_split(str(fresh), "fr", "test")[0]["question"].startswith("[fr] ")


def test_two_folders_of_the_same_name_are_not_confused(tiny_model, tmp_path):
    published, pseudo = tmp_path / "a" / "hp", tmp_path / "b" / "hp"
    published.parent.mkdir(), pseudo.parent.mkdir()
    xbench.build("hp_quiz", out=published, langs="fr", cache=tmp_path / "c.sqlite")
    xbench.build("hp_quiz", out=pseudo, langs="fr", translator="pseudo", cache=tmp_path / "c.sqlite")
    one = evaluate(tiny_model, str(published), out=tmp_path / "run_a", configs=["fr"], limit=3)[0]
    two = evaluate(tiny_model, str(pseudo), out=tmp_path / "run_b", configs=["fr"], limit=3)[0]
    assert one.dataset_hash == _sha256sum_listing(published, "fr") and two.dataset_hash == _sha256sum_listing(pseudo, "fr")
    assert one.dataset_hash != two.dataset_hash
    hashes = [{s["prompt_hash"] for s in _samples(tmp_path / run, "fr")} for run in ("run_a", "run_b")]
    assert not hashes[0] & hashes[1]
    assert built_dataset.load_split(str(published), "fr", "test")[0]["question"] == "De quelle couleur sont les cheveux de Harry Potter ?"


def test_demos_from_english_put_the_en_files_in_the_hash(tiny_model, sample_mmlu_dir, tmp_path):
    zero = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "zero", configs=["fr_full"], limit=2)[0]
    two = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "two", configs=["fr_full"], limit=2, shots=2)[0]
    assert zero.dataset_hash == built_dataset.content_hash(sample_mmlu_dir, ["fr_full"]) == _sha256sum_listing(sample_mmlu_dir, "fr_full")
    assert two.dataset_hash == built_dataset.content_hash(sample_mmlu_dir, ["fr_full", "en"]) != zero.dataset_hash


# --- item 4: resume only what was scored under identical conditions ---------------------------


def test_resume_key_changes_with_every_prompt_setting():
    """Derived from the whole settings object: a setting added to PromptSettings is in the key without more code."""
    base = PromptSettings(0, "english", "ABCD", "none", "maxprob")
    key = resume_key(model={"model": "m"}, prompt=base, dataset="h", config="fr", split="test")
    for field in dataclasses.fields(PromptSettings):
        value = getattr(base, field.name)
        changed = dataclasses.replace(base, **{field.name: value + 1 if isinstance(value, int) else f"{value}x"})
        assert resume_key(model={"model": "m"}, prompt=changed, dataset="h", config="fr", split="test") != key, field.name
    for part, other in {"model": {"model": "n"}, "dataset": "h2", "config": "de", "split": "dev"}.items():
        parts = {"model": {"model": "m"}, "prompt": base, "dataset": "h", "config": "fr", "split": "test", part: other}
        assert resume_key(**parts) != key, part


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"strategy": "maxprob"}, {"strategy": "first-token"}),  # the same prompts, another decision rule
        ({"dtype": "float32"}, {"dtype": "bfloat16"}),
    ],
    ids=["strategy", "dtype"],
)
def test_resume_rescores_samples_made_under_other_conditions(tiny_model_dir, sample_mmlu_dir, tmp_path, first, second):
    def run(out, settings, resume=False):
        model = load_model(str(tiny_model_dir), device="cpu", dtype=settings.get("dtype", "float32"))
        return evaluate(model, str(sample_mmlu_dir), out=out, configs=["en"], limit=6, strategy=settings.get("strategy", "maxprob"), resume=resume)[0]

    before = run(tmp_path / "run", first)
    resumed = run(tmp_path / "run", second, resume=True)
    fresh = run(tmp_path / "fresh", second)
    assert resumed.run_key == fresh.run_key != before.run_key
    assert (tmp_path / "run" / "en" / "samples.jsonl").read_text() == (tmp_path / "fresh" / "en" / "samples.jsonl").read_text()
    assert resumed.metrics == fresh.metrics


def test_weights_saved_again_into_the_same_folder_are_another_model(sample_mmlu_dir, tmp_path):
    folder = tmp_path / "model"
    tokenizer = byte_level_tokenizer()
    tiny_llama(tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    before = evaluate(load_model(str(folder), device="cpu"), str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=6)[0]
    tiny_llama(tokenizer, seed=1).save_pretrained(folder)  # fine-tuned in place, same name, no revision
    resumed = evaluate(load_model(str(folder), device="cpu"), str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=6, resume=True)[0]
    fresh = evaluate(load_model(str(folder), device="cpu"), str(sample_mmlu_dir), out=tmp_path / "fresh", configs=["en"], limit=6)[0]
    assert resumed.run_key == fresh.run_key != before.run_key
    assert (tmp_path / "run" / "en" / "samples.jsonl").read_text() == (tmp_path / "fresh" / "en" / "samples.jsonl").read_text()


def test_resume_keeps_samples_of_the_same_run_and_extends_them(tiny_model, sample_mmlu_dir, tmp_path, monkeypatch):
    evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=5)
    scored = []
    original = type(tiny_model.model).forward

    @functools.wraps(original)
    def counting_forward(self, *args, **kwargs):
        scored.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model.model), "forward", counting_forward)
    resumed = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], limit=12, resume=True)[0]
    monkeypatch.undo()
    full = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "full", configs=["en"], limit=12)[0]
    assert resumed.metrics == full.metrics
    assert (tmp_path / "run" / "en" / "samples.jsonl").read_text() == (tmp_path / "full" / "en" / "samples.jsonl").read_text()
    assert 0 < len(scored) <= 7 + 2  # the 7 new questions and a shared-prefix pass per subject touched


CRASHING_EVAL = textwrap.dedent(
    """
    import functools, os, signal, sys
    from transformers import LlamaForCausalLM

    forward, calls = LlamaForCausalLM.forward, []

    @functools.wraps(forward)
    def dying_forward(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == int(os.environ["KILL_AT_FORWARD"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return forward(self, *args, **kwargs)

    LlamaForCausalLM.forward = dying_forward
    from xbench.cli import main

    sys.argv = ["xbench", *sys.argv[1:]]
    main()
    """
)


@pytest.mark.slow  # a subprocess importing torch and transformers
def test_kill_9_mid_eval_then_resume_gives_the_uninterrupted_run(tiny_model_dir, sample_mmlu_dir, tmp_path):
    args = ["eval", "--model", str(tiny_model_dir), "--dataset", str(sample_mmlu_dir), "--configs", "en", "--shots", "1", "--quiet"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "KILL_AT_FORWARD": "25", "TMPDIR": str(scratch)}  # 4 subjects of 10: one prefix pass + 10 each
    crashed = subprocess.run([sys.executable, "-c", CRASHING_EVAL, *args, "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    config = tmp_path / "run" / "en"
    kept = (config / "samples.jsonl").read_text().splitlines()
    assert len(kept) == 20 and not (config / "results.json").exists()  # two subjects written, the third lost, nothing claims to be done
    runner = CliRunner()
    resumed = runner.invoke(app, [*args, "--out", str(tmp_path / "run"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    uninterrupted = runner.invoke(app, [*args, "--out", str(tmp_path / "full")])
    assert uninterrupted.exit_code == 0, uninterrupted.output
    assert json.loads((config / "results.json").read_text()) == json.loads((tmp_path / "full" / "en" / "results.json").read_text())
    assert (config / "samples.jsonl").read_bytes() == (tmp_path / "full" / "en" / "samples.jsonl").read_bytes()
    assert (config / "samples.jsonl").read_text().splitlines()[:20] == kept  # what survived the kill was kept, not rescored
    assert sorted(p.name for p in config.iterdir()) == ["results.json", "samples.jsonl"]
    assert list(scratch.iterdir()) == []


# --- items 8 and 9: bad input is one line, exit 2, nothing written ------------------------------


@pytest.fixture(scope="module")
def results_file(tiny_model, sample_mmlu_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    evaluate(tiny_model, str(sample_mmlu_dir), out=run, configs=["en"], limit=2)
    return run / "en" / "results.json"


BAD_INPUT = [
    # (command line with {model} {dataset} {out} {file} {latin1} {results} placeholders, exit code, message)
    ("eval --model {model} --dataset {dataset} --out {out} --device tpu9", 2, "--device tpu9: unknown device; choose from auto, cpu, cuda, cuda:N, mps"),
    ("eval --model {model} --dataset {dataset} --out {out} --device cuda:x", 2, "--device cuda:x: unknown device"),
    ("eval --model {model} --dataset {dataset} --out {file}", 2, "is a file; give a folder for the run"),
    ("eval --model {model} --dataset {dataset} --out {file}/run", 2, "is a file, so"),
    ("eval --model {model} --dataset {dataset} --out {out} --limit 0", 2, "--limit: must be at least 1, got 0"),
    ("eval --model {model} --dataset {dataset} --out {out} --limit -5", 2, "--limit: must be at least 1, got -5"),
    ("eval --model {model} --dataset {file} --out {out}", 2, "a file, not a folder; expected a folder written by xbench build"),
    ("eval --model {model} --dataset {dataset} --out {out} --split validation", 2, "config 'en' has no split 'validation' (it has test, dev)"),
    ("eval --model {model} --dataset {duplicates} --out {out} --configs default", 2, "config 'default': id 'q1' appears twice (rows 1 and 2)"),
    ("eval --model {model} --dataset {dataset} --out {out} --shots 9", 2, "--shots 9: the dev split has only 5 rows"),
    ("score tofu {latin1} --out {out}", 2, "not UTF-8 text"),
    ("score tofu {missing} --out {out}", 2, "cannot read"),
    ("score tofu {file} --out {out}", 2, "no generations"),
    ("score tofu {good} --out {file}", 2, "is a file; give a folder for the run"),
    ("report {out}", 2, "no such run folder (expected a folder written by xbench eval, or its results.json)"),
    ("report {file}", 2, "not an xbench results.json"),
    ("report {results} --plots {file}", 2, "--plots: "),
]


@pytest.mark.parametrize(("line", "code", "message"), BAD_INPUT, ids=[f"{i}-{line.split()[0]}" for i, (line, _, _) in enumerate(BAD_INPUT)])
def test_bad_input_is_one_line_and_writes_nothing(tiny_model_dir, sample_mmlu_dir, results_file, tmp_path, line, code, message):
    (tmp_path / "plain.txt").write_text("")
    (tmp_path / "latin1.jsonl").write_bytes('{"generation": "café", "reference": "café"}\n'.encode("latin-1"))
    (tmp_path / "good.jsonl").write_text('{"generation": "a b", "reference": "a b"}\n')
    values = {
        "model": tiny_model_dir,
        "dataset": sample_mmlu_dir,
        "out": tmp_path / "out",
        "file": tmp_path / "plain.txt",
        "latin1": tmp_path / "latin1.jsonl",
        "missing": tmp_path / "missing.jsonl",
        "good": tmp_path / "good.jsonl",
        "results": results_file,
        "duplicates": write_jsonl(tmp_path / "dup" / "test.jsonl", [{"id": "q1", "question": "Q?", "choices": list("abcd"), "answer": 0}] * 2).parent,
    }
    args = [part.format(**values) for part in line.split()]
    if args[0] == "eval":
        args += ["--quiet"] + ([] if "--configs" in args else ["--configs", "en"])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert not (tmp_path / "out").exists() and (tmp_path / "plain.txt").read_text() == ""


def test_report_plots_without_matplotlib_says_what_to_install(results_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = CliRunner().invoke(app, ["report", str(results_file), "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 1
    assert 'pip install ".[run]"' in result.output and "Traceback" not in result.output
    assert not (tmp_path / "plots").exists()


def test_a_crash_mid_config_loses_at_most_the_chunk_being_scored(tiny_model, sample_mmlu_dir, tmp_path, monkeypatch):
    """In-process twin of the kill -9 test: samples are flushed per chunk, results.json only at the end."""

    class Crash(Exception):
        pass

    original, calls = type(tiny_model.model).forward, []

    @functools.wraps(original)
    def crashing_forward(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 25:  # 4 subjects of 10: a prefix pass and 10 questions each; dies in the third
            raise Crash
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model.model), "forward", crashing_forward)
    with pytest.raises(Crash):
        evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], shots=1)
    monkeypatch.undo()
    config = tmp_path / "run" / "en"
    assert len(config.joinpath("samples.jsonl").read_text().splitlines()) == 20 and not (config / "results.json").exists()
    resumed = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "run", configs=["en"], shots=1, resume=True)[0]
    full = evaluate(tiny_model, str(sample_mmlu_dir), out=tmp_path / "full", configs=["en"], shots=1)[0]
    assert resumed.metrics == full.metrics and resumed.run_key == full.run_key
    assert (config / "samples.jsonl").read_bytes() == (tmp_path / "full" / "en" / "samples.jsonl").read_bytes()
    assert sorted(p.name for p in config.iterdir()) == ["results.json", "samples.jsonl"]


def test_ctrl_c_during_eval_says_how_to_resume(tiny_model_dir, sample_mmlu_dir, tmp_path, monkeypatch):
    import xbench.runner.evaluate as evaluate_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "evaluate", interrupted)
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model_dir), "--dataset", str(sample_mmlu_dir), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 130
    assert "run the same command with --resume to continue" in " ".join(result.output.split())


def test_generation_runs_write_each_answer_and_resume(tiny_model, tmp_path, monkeypatch):
    """TOFU-style configs: an answer is written as soon as it is generated; --resume continues after a crash."""
    rows = [{"id": f"q{i}", "question": f"Who wrote book {i}?", "answer": f"Author number {i} wrote it."} for i in range(5)]
    folder = write_jsonl(tmp_path / "tofu_like" / "test.jsonl", rows).parent
    write_xbench_card(folder, "tofu", {"default": {"kind": "generation", "language": "en", "languages": ["en"]}})

    class Crash(Exception):
        pass

    original, calls = type(tiny_model.model).generate, []

    @functools.wraps(original)
    def crashing_generate(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise Crash
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model.model), "generate", crashing_generate)
    with pytest.raises(Crash):
        evaluate(tiny_model, str(folder), out=tmp_path / "run", max_new_tokens=6, protocol="harness")
    monkeypatch.undo()
    config = tmp_path / "run" / "default"
    assert [json.loads(line)["id"] for line in (config / "samples.jsonl").read_text().splitlines()] == ["q0", "q1", "q2"]
    assert not (config / "results.json").exists()
    resumed = evaluate(tiny_model, str(folder), out=tmp_path / "run", max_new_tokens=6, resume=True, protocol="harness")[0]
    full = evaluate(tiny_model, str(folder), out=tmp_path / "full", max_new_tokens=6, protocol="harness")[0]
    listing = f"{hashlib.sha256((folder / 'test.jsonl').read_bytes()).hexdigest()}  test.jsonl\n"
    assert resumed.metrics == full.metrics and resumed.dataset_hash == hashlib.sha256(listing.encode()).hexdigest()
    assert (config / "samples.jsonl").read_bytes() == (tmp_path / "full" / "default" / "samples.jsonl").read_bytes()
    changed = evaluate(tiny_model, str(folder), out=tmp_path / "run", max_new_tokens=7, resume=True, protocol="harness")[0]  # another budget: all rescored
    assert changed.run_key != full.run_key
    assert {json.loads(line)["run_key"] for line in (config / "samples.jsonl").read_text().splitlines()} == {changed.run_key}
