"""Hostile and careless input to build, translations and push: one line, the right exit code, nothing lost."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest
from helpers import MMLU_TEST, write_jsonl
from typer.testing import CliRunner

from xbench.cli import app

runner = CliRunner()
PSEUDO = ["--translator", "pseudo", "--quiet"]


def _mmlu(tmp: Path, name: str, text: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    (folder / "test.jsonl").write_text(text, encoding="utf-8")
    write_jsonl(folder / "dev.jsonl", MMLU_TEST[:1])
    return folder


def _empty_parquet(tmp: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp / "empty_parquet"
    folder.mkdir()
    schema = pa.schema([("question", pa.string()), ("subject", pa.string()), ("choices", pa.list_(pa.string())), ("answer", pa.int64())])
    pq.write_table(schema.empty_table(), folder / "test.parquet")
    write_jsonl(folder / "dev.jsonl", MMLU_TEST[:1])
    return folder


def _quiz(tmp: Path) -> Path:
    folder = tmp / "quiz"
    folder.mkdir()
    (folder / "English.jsonl").write_text("")
    return folder


def _memory(tmp: Path, text: str | bytes) -> Path:
    path = tmp / "memory.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _entry(**changes) -> str:
    return json.dumps({"source_lang": "en", "target_lang": "fr", "source": "cat", "target": "chat", "engine": "x", **changes}) + "\n"


def _corrupt_cache(tmp: Path) -> Path:
    path = tmp / "corrupt.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute(
        "CREATE TABLE translations (id INTEGER PRIMARY KEY, engine TEXT NOT NULL, source_lang TEXT NOT NULL, target_lang TEXT NOT NULL, key BLOB NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL)"
    )
    db.execute("CREATE UNIQUE INDEX translations_key ON translations (source_lang, target_lang, key, engine)")
    db.executemany("INSERT INTO translations VALUES (?, 'x', 'en', 'fr', ?, ?, ?)", [(i, os.urandom(32), f"s{i}" * 20, f"t{i}" * 20) for i in range(3000)])
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    data[8192 : len(data) - 4096] = b"\xff" * (len(data) - 4096 - 8192)  # data pages, not the header
    path.write_bytes(bytes(data))
    return path


def _file(tmp: Path, name: str = "a_file") -> Path:
    path = tmp / name
    path.write_text("\n  \n" if name.endswith(".txt") else "x")
    return path


def _tofu(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_text('{"question": "Who?", "answer": "A."}\n')
    return path


def _source_in_build(tmp: Path, source: Path) -> Path:
    out = tmp / "built"
    out.mkdir()
    (out / "build_report.json").write_text(json.dumps({"configs": {}}))
    return source.rename(out / source.name)


def _build_with_runs(tmp: Path) -> Path:
    out = tmp / "built"
    out.mkdir()
    (out / "README.md").write_text("card")
    (out / "build_report.json").write_text(json.dumps({"configs": {"en": {"test": 1}}}))
    (out / "fr_full").mkdir()  # not listed in the report: someone else's folder
    (out / "fr_full" / "mine.txt").write_text("keep")
    return out


# (id, args built from tmp_path and mmlu_source, exit code, message)
CASES = [
    ("empty jsonl", lambda t, s: ["build", "mmlu_mixup", "--source", _mmlu(t, "e", ""), *PSEUDO], 2, "no rows in split test"),
    ("blank lines only", lambda t, s: ["build", "mmlu_mixup", "--source", _mmlu(t, "b", "\n  \n\n"), *PSEUDO], 2, "no rows in split test"),
    ("0-row parquet", lambda t, s: ["build", "mmlu_mixup", "--source", _empty_parquet(t), *PSEUDO], 2, "no rows in split test"),
    ("empty quiz", lambda t, s: ["build", "hp_quiz", "--source", _quiz(t), "--langs", "fr", *PSEUDO], 2, "no rows in split test"),
    ("blank wikitext", lambda t, s: ["build", "wikitext_mixed", "--source", _file(t, "wiki.txt"), *PSEUDO], 2, "no documents in the train split"),
    (
        "lone surrogate in a source",
        lambda t, s: ["build", "mmlu_mixup", "--source", _mmlu(t, "u", json.dumps({**MMLU_TEST[0], "question": "\ud800"}) + "\n"), *PSEUDO],
        2,
        "test.jsonl: line 1: a string holds a lone surrogate",
    ),
    ("out parent is a file", lambda t, s: ["build", "mmlu_mixup", "--source", s, "--out", _file(t) / "o", *PSEUDO], 2, "is a file, not a folder"),
    ("out is the current folder", lambda t, s: ["build", "mmlu_mixup", "--source", s, "--out", ".", *PSEUDO], 2, "--out .: give the build its own folder"),
    ("source inside out", lambda t, s: ["build", "mmlu_mixup", "--source", _source_in_build(t, s), "--out", t / "built", *PSEUDO], 2, "is inside --out"),
    (
        "foreign folder named like a config",
        lambda t, s: ["build", "mmlu_mixup", "--source", s, "--langs", "fr", "--formats", "full", "--out", _build_with_runs(t), *PSEUDO],
        2,
        "fr_full exists and was not written by xbench",
    ),
    ("cache under a file", lambda t, s: ["build", "mmlu_mixup", "--source", s, "--cache", _file(t) / "c.sqlite", *PSEUDO], 2, "cannot create its folder"),
    ("cache is a folder", lambda t, s: ["build", "mmlu_mixup", "--source", s, "--cache", t, *PSEUDO], 2, "is a folder; give a file path"),
    (
        "source config with ..",
        lambda t, s: ["build", "tofu", "--source", _tofu(t, "t.jsonl"), "--source-config", "../../X", *PSEUDO],
        2,
        "--source-config: '../../X_en' is not a valid config name",
    ),
    (
        "file name that is no config name",
        lambda t, s: ["build", "tofu", "--source", _tofu(t, "my data.jsonl"), *PSEUDO],
        2,
        "'my data_en' is not a valid config name",
    ),
    ("hp_quiz source path missing", lambda t, s: ["build", "hp_quiz", "--source", t / "missing" / "dir", *PSEUDO], 2, "does not exist"),
    ("hp_quiz source under an existing folder", lambda t, s: ["build", "hp_quiz", "--source", str(s.name) + "/nope", *PSEUDO], 2, "does not exist"),
    (
        "import lone surrogate",
        lambda t, s: ["translations", "import", _memory(t, _entry(target="\ud800"))],
        2,
        "memory.jsonl: line 1: a string holds a lone surrogate",
    ),
    (
        "import not UTF-8",
        lambda t, s: ["translations", "import", _memory(t, _entry().encode() + b'{"source": "\xff\xfe"}\n')],
        2,
        "memory.jsonl: line 2: not UTF-8 text",
    ),
    (
        "import unknown language",
        lambda t, s: ["translations", "import", _memory(t, _entry() + _entry(target_lang="xx"))],
        2,
        "memory.jsonl: line 2: unknown language code(s) 'xx'",
    ),
    ("import blank target", lambda t, s: ["translations", "import", _memory(t, _entry(target="  "))], 2, "memory.jsonl: line 1: field(s) target are blank"),
    ("corrupt cache pages", lambda t, s: ["translations", "export", t / "x.jsonl", "--cache", _corrupt_cache(t)], 2, "the translation cache is corrupt"),
    ("export to a folder", lambda t, s: ["translations", "export", t], 2, "is a folder; give a file path"),
    ("push repo with ..", lambda t, s: ["push", t, "--repo", "../evil"], 2, "--repo: '../evil' is not a valid repo id"),
    ("push repo with spaces", lambda t, s: ["push", t, "--repo", "my org/data set"], 2, "is not a valid repo id"),
    ("push revision with spaces", lambda t, s: ["push", t, "--repo", "org/name", "--revision", "v 1"], 2, "--revision: 'v 1' is not a valid tag name"),
    ("push revision with ..", lambda t, s: ["push", t, "--repo", "org/name", "--revision", "v1..2"], 2, "is not a valid tag name"),
]


@pytest.mark.parametrize(("args", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_the_right_exit_code(tmp_path, mmlu_source, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default cache stays in the test folder
    built = tmp_path / "push_me"
    built.mkdir()
    (built / "README.md").write_text("card")
    (built / "build_report.json").write_text("{}")
    argv = [str(a) for a in args(tmp_path, mmlu_source)]
    if argv[0] == "push":
        argv[1] = str(built)
    if argv[0] == "build":
        argv += [] if "--out" in argv else ["--out", str(tmp_path / "out")]
        argv += [] if "--cache" in argv else ["--cache", str(tmp_path / "c.sqlite")]
    if argv[:2] == ["translations", "import"] or (argv[:2] == ["translations", "export"] and "--cache" not in argv):
        argv += ["--cache", str(tmp_path / "c.sqlite")]
    before = sorted(str(p) for p in tmp_path.rglob("*") if ".xbench-" not in p.name)
    result = runner.invoke(app, argv)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.rglob("*") if ".xbench-" in p.name]
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    assert set(before) <= set(after)  # nothing of the user's deleted


def test_read_only_out_parent_is_refused(tmp_path, mmlu_source):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = runner.invoke(
            app, ["build", "mmlu_mixup", "--source", str(mmlu_source), "--out", str(parent / "o"), "--cache", str(tmp_path / "c.sqlite"), *PSEUDO]
        )
    finally:
        parent.chmod(0o755)
    assert result.exit_code == 2 and "cannot write in" in result.output


def test_disk_full_is_one_line_exit_1_and_leaves_nothing(tmp_path, mmlu_source, monkeypatch):
    import pyarrow.parquet as pq

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    result = runner.invoke(
        app, ["build", "mmlu_mixup", "--source", str(mmlu_source), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c.sqlite"), *PSEUDO]
    )
    assert result.exit_code == 1, result.output
    assert "no space left on the device of" in result.output and "Free space and rerun" in result.output
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if ".xbench-" in p.name]
