import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from helpers import MMLU_TEST, write_jsonl
from typer.testing import CliRunner

import xbench
from xbench import hub
from xbench.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_languages_lists_all_codes():
    result = invoke("languages")
    assert result.exit_code == 0
    for code in ("en", "zh-CN", "iw", "am", "hi"):
        assert code in result.output


def test_build_with_pseudo_engine(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    result = invoke(
        "build",
        "mmlu_mixup",
        "--source",
        mmlu_source,
        "--translator",
        "pseudo",
        "--langs",
        "fr",
        "--formats",
        "full,mixup",
        "--out",
        out,
        "--cache",
        cache_path,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 configs, 21 rows" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "build_report.json", "en", "fr_full", "mixup"]


def test_dry_run_reports_and_writes_nothing(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    result = invoke(
        "build", "mmlu_mixup", "--source", mmlu_source, "--translator", "pseudo", "--langs", "fr,de", "--out", out, "--cache", cache_path, "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "(dry run)" in result.output and "nothing was translated" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"answer": 5}, "row 2: answer 5 is outside 0-3 or A-D"),
        ({"answer": "E"}, "row 2: answer 'E' is outside 0-3 or A-D"),
        ({"choices": ["a", "b", "c"]}, "row 2: expected exactly 4 choices, got 3"),
        ({"question": "   "}, "row 2: empty question"),
        ({"subject": ""}, "row 2: missing subject"),
    ],
)
def test_bad_rows_exit_2_naming_file_and_row(tmp_path, cache_path, row, message):
    rows = [dict(MMLU_TEST[0]), {**MMLU_TEST[1], **row}]
    source = write_jsonl(tmp_path / "bad.jsonl", rows)
    out = tmp_path / "out"
    result = invoke("build", "mmlu_mixup", "--source", source, "--translator", "pseudo", "--out", out, "--cache", cache_path)
    assert result.exit_code == 2
    assert f"bad.jsonl: {message}" in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one message, no traceback
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formats", "full,weird"], "--formats: unknown format 'weird'"),
        (["--langs", "fr,xx"], "--langs: unknown language code 'xx'; valid codes: en fr de es it ms da fi no bn am ru zh he ar hi"),
        (["--translator", "babel"], "--translator: unknown engine 'babel'"),
        (["--mixup-pool", "en,fr"], "--mixup-pool: needs exactly 5 distinct languages, got 2"),
        (["--splits", "train"], "--splits: unknown split 'train'; choose from all, test, dev"),
    ],
)
def test_bad_options_exit_2(tmp_path, mmlu_source, cache_path, args, message):
    result = invoke("build", "mmlu_mixup", "--source", mmlu_source, "--translator", "pseudo", "--out", tmp_path / "o", "--cache", cache_path, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_unreadable_and_missing_sources_exit_2(tmp_path, cache_path):
    garbage = tmp_path / "test.parquet"
    garbage.write_bytes(b"not a parquet file")
    result = invoke("build", "mmlu_mixup", "--source", garbage, "--translator", "pseudo", "--out", tmp_path / "o", "--cache", cache_path)
    assert result.exit_code == 2 and "test.parquet: cannot read" in result.output
    result = invoke("build", "mmlu_mixup", "--source", tmp_path / "nope", "--translator", "pseudo", "--out", tmp_path / "o", "--cache", cache_path)
    assert result.exit_code == 2 and "does not exist" in result.output
    result = invoke("build", "no_such_dataset", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "unknown dataset 'no_such_dataset'" in result.output


def test_existing_foreign_folder_is_not_overwritten(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    result = invoke("build", "mmlu_mixup", "--source", mmlu_source, "--translator", "pseudo", "--out", out, "--cache", cache_path)
    assert result.exit_code == 2 and "is not an xbench build folder" in result.output
    assert (out / "thesis.tex").read_text() == "do not delete"


def test_failed_translation_exits_1_with_next_steps(tmp_path, mmlu_source, cache_path):
    result = invoke("build", "mmlu_mixup", "--source", mmlu_source, "--translator", "memory", "--langs", "fr", "--out", tmp_path / "o", "--cache", cache_path)
    assert result.exit_code == 1
    assert "could not be translated en->fr" in result.output and "(memory: no entry for en->fr)" in result.output
    assert not (tmp_path / "o").exists()


def test_translations_import_export_and_memory_build(tmp_path, mmlu_source, cache_path):
    from helpers import FakeEngine

    from xbench.building import build

    build("mmlu_mixup", source=str(mmlu_source), translator=FakeEngine(), langs="fr", formats="full", out=tmp_path / "a", cache=cache_path)
    exported = tmp_path / "tm.jsonl"
    result = invoke("translations", "export", exported, "--cache", cache_path, "--target-lang", "fr")
    assert result.exit_code == 0 and "exported" in result.output
    entries = [json.loads(line) for line in exported.read_text().splitlines()]
    assert entries[0] == {"source_lang": "en", "target_lang": "fr", "source": "What is 2 + 2?", "target": "<fr>What is 2 + 2?", "engine": "fake"}
    other = tmp_path / "other.sqlite"
    assert invoke("translations", "import", exported, "--cache", other).exit_code == 0
    result = invoke(
        "build",
        "mmlu_mixup",
        "--source",
        mmlu_source,
        "--translator",
        "memory",
        "--langs",
        "fr",
        "--formats",
        "full",
        "--out",
        tmp_path / "b",
        "--cache",
        other,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "fr_full" / "test-00000-of-00001.parquet").read_bytes() == (
        tmp_path / "b" / "fr_full" / "test-00000-of-00001.parquet"
    ).read_bytes()
    assert invoke("translations", "import", tmp_path / "missing.jsonl", "--cache", other).exit_code == 2


class FakeApi:
    def __init__(self, fail_with=None, tags=()):
        self.calls = []
        self.fail_with = fail_with
        self.tags = tags

    def list_repo_refs(self, repo_id, **kwargs):
        return type("Refs", (), {"tags": [type("Ref", (), {"name": t})() for t in self.tags]})()

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        if self.fail_with:
            raise self.fail_with
        self.calls.append(("upload_folder", kwargs))
        return type("Commit", (), {"commit_url": "https://hub/commit/1"})()

    def create_tag(self, repo_id, **kwargs):
        self.calls.append(("create_tag", repo_id, kwargs))


def test_push_uploads_and_tags(tmp_path, mmlu_source, cache_path, monkeypatch):
    out = tmp_path / "out"
    invoke("build", "mmlu_mixup", "--source", mmlu_source, "--translator", "pseudo", "--langs", "fr", "--formats", "full", "--out", out, "--cache", cache_path)
    api = FakeApi()
    url = hub.push(out, "org/mmlu_mixup", revision="v1.0", private=True, token="hf_secret", api=api, force=True)
    assert url == "https://hub/commit/1"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder", "create_tag"]
    assert api.calls[0][2]["private"] is True and api.calls[0][2]["repo_type"] == "dataset"
    assert api.calls[1][1]["folder_path"] == str(out) and api.calls[2][2]["tag"] == "v1.0"
    assert api.calls[1][1]["delete_patterns"] == ["*.parquet"]  # stale shards of an earlier build go
    taken = FakeApi(tags=("v1.0",))
    with pytest.raises(xbench.InputError, match=r"tag 'v1\.0' already exists in org/mmlu_mixup"):
        hub.push(out, "org/mmlu_mixup", revision="v1.0", token="hf_secret", api=taken, force=True)
    assert [c[0] for c in taken.calls] == ["create_repo"]  # nothing uploaded


def test_push_failure_never_shows_the_token(tmp_path, mmlu_source, cache_path, monkeypatch):
    out = tmp_path / "out"
    invoke("build", "mmlu_mixup", "--source", mmlu_source, "--translator", "pseudo", "--langs", "fr", "--formats", "full", "--out", out, "--cache", cache_path)
    api = FakeApi(fail_with=RuntimeError("401 Unauthorized for token hf_secret_value"))
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    monkeypatch.setattr("huggingface_hub.HfApi", lambda: api)
    result = invoke("push", out, "--repo", "org/name", "--force")
    assert result.exit_code == 1
    assert "hf_secret_value" not in result.output and "***" in result.output
    assert "push to org/name failed" in result.output


def test_push_refuses_a_folder_that_is_not_a_build(tmp_path):
    result = invoke("push", tmp_path, "--repo", "org/name")
    assert result.exit_code == 2 and "not an xbench build folder" in result.output


# --- help: sections and start-up cost ---------------------------------------------------------


def _sections(help_text: str) -> dict[str, list[str]]:
    """Section title -> first word of each entry, from plain Click help."""
    sections: dict[str, list[str]] = {}
    title = None
    for line in help_text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            sections[title] = []
        elif title and line.startswith("  ") and not line.startswith("   "):
            sections[title].append(line.split()[0].rstrip(","))
    return sections


def test_help_lists_every_command_once_in_its_section():
    result = invoke("--help")
    assert result.exit_code == 0
    sections = _sections(result.output)
    assert list(sections) == ["Options", "Build", "Evaluate", "Probes", "Fine-tune", "Study", "About"]
    assert sections["Build"] == ["build", "info", "languages", "engines", "qe", "push", "translations", "retrieve"]
    assert sections["Evaluate"] == ["eval", "report", "audit", "export", "score"]
    assert sections["Probes"] == ["mt-eval", "embed"]
    listed = [name for title, names in sections.items() if title != "Options" for name in names]
    registered = [c.name or c.callback.__name__ for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(listed) == sorted(registered)  # every command, none twice


def test_option_sections_of_build_and_eval():
    build_sections = _sections(invoke("build", "--help").output)
    assert build_sections["Family options (tofu, wikitext_mixed, fictional_facts)"] == [
        "--source-config",
        "--translate-answers",
        "--unit",
        "--doc-unit",
        "--pool",
        "--max-docs",
        "--sample",
        "--subset",
        "--all-languages",
        "--entities",
        "--heldout",
        "--paraphrases",
        "--templates",
    ]
    assert "--unit" not in build_sections["Options"] and "--langs" in build_sections["Options"]
    eval_sections = _sections(invoke("eval", "--help").output)
    backend = eval_sections["Server backend (OpenAI-compatible: OpenAI, vllm serve, TGI, llama.cpp)"]
    assert backend[0] == "--backend" and "--dry-run" in backend and "--base-url" not in eval_sections["Options"]


HEAVY = ("torch", "datasets", "transformers", "pyarrow", "pandas")


@pytest.mark.parametrize("args", [["--help"], ["build", "--help"], ["eval", "--help"], ["finetune", "--help"]])
def test_help_imports_no_heavy_library(args):
    """`xbench --help` stays instant: the library is imported inside the commands."""
    code = "\n".join(
        [
            "import sys",
            "from xbench.cli import main",
            f"sys.argv = ['xbench', *{args!r}]",
            "try:",
            "    main()",
            "except SystemExit as err:",
            "    assert err.code in (0, None), err.code",
            f"print('loaded:', *sorted(m for m in {HEAVY!r} if m in sys.modules))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded:"


def test_python_dash_m_runs_the_cli():
    """torchrun and accelerate launch start commands as `python -m xbench.cli`."""
    result = subprocess.run([sys.executable, "-m", "xbench.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("xbench ")


# --- family flags (contract B: each family declares the flags it takes) -----------------------


def test_build_passes_only_the_family_flags_given(monkeypatch):
    from xbench import building
    from xbench.errors import InputError

    seen = []

    def fake_build(dataset, **kwargs):
        seen.append(kwargs)
        raise InputError("stop here")

    monkeypatch.setattr(building, "build", fake_build)
    assert invoke("build", "wikitext_mixed", "--dry-run", "--seed", "3", "--unit", "sentence", "--all-languages", "--max-docs", "0").exit_code == 2
    assert invoke("build", "wikitext_mixed", "--dry-run").exit_code == 2
    assert seen[0]["options"] == {"unit": "sentence", "all_languages": True, "max_docs": 0}
    assert seen[0]["seed"] == 3 and seen[0]["qa"] is None
    assert seen[1]["options"] == {}


def _family_source(family: str, folder) -> str:
    """A source each family reads (hp_quiz has no bundled sample)."""
    if family == "tofu":
        return str(write_jsonl(folder / "forget01.jsonl", [{"question": "Who wrote it?", "answer": "Jaime Vasquez."}]))
    if family == "wikitext_mixed":
        (folder / "wiki.train.txt").write_text(" = A = \n One line . \n", encoding="utf-8")
        return str(folder / "wiki.train.txt")
    return "sample"


@pytest.mark.parametrize(
    ("family", "flag", "message"),
    [
        ("mmlu_mixup", ["--unit", "sentence"], "--unit: mmlu_mixup does not take this option (it is for wikitext_mixed, fictional_facts)"),
        ("mmlu_mixup", ["--source-config", "x"], "--source-config: mmlu_mixup does not take this option (it is for tofu, wikitext_mixed)"),
        ("wikitext_mixed", ["--translate-answers"], "--translate-answers: wikitext_mixed does not take this option (it is for tofu)"),
        ("tofu", ["--all-languages"], "--all-languages: tofu does not take this option (it is for wikitext_mixed)"),
    ],
)
def test_a_flag_the_family_does_not_take_exits_2(tmp_path, cache_path, family, flag, message):
    """Needs the library side of contract B (branch i11-flow)."""
    source = _family_source(family, tmp_path)
    result = invoke("build", family, "--source", source, "--translator", "pseudo", "--out", tmp_path / "out", "--cache", cache_path, *flag)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.output
    assert not (tmp_path / "out").exists()


def test_wikitext_flags_reach_the_build(tmp_path, cache_path):
    from test_wikitext_mixed import WIKI

    source = tmp_path / "wiki.train.txt"
    source.write_text(WIKI, encoding="utf-8")
    out = tmp_path / "out"
    common = ["--source", source, "--translator", "pseudo", "--cache", cache_path, "--quiet"]
    flags = ["--unit", "words3,sentence", "--pool", "en,fr", "--doc-unit", "article", "--max-docs", "1", "--all-languages"]
    result = invoke("build", "wikitext_mixed", *common, "--out", out, *flags)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "build_report.json").read_text())
    assert report["configs"] == {name: {"train": rows} for name, rows in (("words3", 1), ("sentence", 1), ("words3_all", 2), ("sentence_all", 2))}
    (text,) = pq.read_table(out / "sentence" / "train-00000-of-00001.parquet").column("text").to_pylist()
    assert "Valkyria Chronicles III" in text and "Gameplay" in text  # one article, not its first line


def test_tofu_flags_reach_the_build(tmp_path, cache_path):
    out = tmp_path / "out"
    args = ["--source", _family_source("tofu", tmp_path), "--source-config", "forget01", "--translate-answers", "--langs", "fr"]
    result = invoke("build", "tofu", *args, "--translator", "pseudo", "--cache", cache_path, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "forget01_fr" / "train-00000-of-00001.parquet").to_pylist()
    assert row["question"] == "[fr] Who wrote it?" and row["answer_translated"] == "[fr] Jaime Vasquez."
