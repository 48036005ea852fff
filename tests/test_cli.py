import json

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
        (["--splits", "train"], "--splits: train; mmlu_mixup has test, dev"),
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
