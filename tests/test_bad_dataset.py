"""A --dataset that is not a build: one line naming it and what was expected, exit 2, before any model is loaded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from xbench.cli import app

FORMS = ("empty", "missing", "no_card", "file")
EXPECTED = "expected a folder written by xbench build"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def bad(tmp_path, form: str) -> str:
    if form == "empty":
        (tmp_path / "empty").mkdir()
        return str(tmp_path / "empty")
    if form == "missing":
        return "hp_quiz_not_here"  # a bare name: a local folder or a Hub id
    if form == "no_card":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "todo.txt").write_text("not a build\n")
        return str(tmp_path / "notes")
    (tmp_path / "results.txt").write_text("a plain file\n")
    return str(tmp_path / "results.txt")


MESSAGES = {
    "empty": "an empty folder",
    "no_card": "no xbench card (README.md) and no data files",
    "file": "a file, not a folder",
}


def command(name: str, dataset: str, tmp_path) -> list[str]:
    out = str(tmp_path / "out")
    return {
        "eval": ["eval", "--model", "no-such-model", "--dataset", dataset, "--out", out, "--quiet"],
        "export": ["export", "lm-eval", dataset, "--out", out],
        "audit": ["audit", dataset],
        "info": ["info", dataset],
        "finetune": ["finetune", "--model", "no-such-model", "--data", dataset, "--out", out],
    }[name]


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", ["eval", "export", "audit", "info", "finetune"])
def test_bad_dataset_is_one_line_and_exit_2_before_loading(name, form, tmp_path):
    dataset = bad(tmp_path, form)
    result = CliRunner().invoke(app, command(name, dataset, tmp_path))
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert dataset in line and EXPECTED in line
    assert "loading" not in result.output
    if form in MESSAGES:
        assert MESSAGES[form] in line
    elif name in ("info", "finetune"):  # a local folder only
        assert "no such folder" in line
    else:
        assert f"no local folder {dataset} and not reachable on the Hub (HF_HUB_OFFLINE is set)" in line
    assert not (tmp_path / "out").exists()


def test_unreachable_hub_is_one_probe_without_retries(monkeypatch, tmp_path):
    """Online but the name does not resolve: one request, then the same line (no retry loop)."""
    import huggingface_hub

    from xbench.built_dataset import check_dataset
    from xbench.errors import InputError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.chdir(tmp_path)  # no local hp_quiz folder here (CI builds one in the checkout's root)
    calls = []

    def unreachable(self, name, **kwargs):
        calls.append(name)
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", unreachable)
    with pytest.raises(InputError, match=r"no local folder hp_quiz and not reachable on the Hub \(OSError\)"):
        check_dataset("hp_quiz")
    assert calls == ["hp_quiz"]


@pytest.mark.parametrize("form", ["missing", "empty", "file"])
def test_report_refuses_what_is_not_a_run_in_one_line(form, tmp_path):
    run = {"missing": str(tmp_path / "no_run"), "empty": str(tmp_path / "empty"), "file": str(tmp_path / "results.txt")}[form]
    if form == "empty":
        (tmp_path / "empty").mkdir()
    if form == "file":
        (tmp_path / "results.txt").write_text("a plain file\n")
    result = CliRunner().invoke(app, ["report", run])
    assert result.exit_code == 2, result.output
    assert run in one_line(result)
