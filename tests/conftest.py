"""Shared fixtures: a fake engine, a translation cache path and a tiny MMLU source (their plain helpers: helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MMLU_DEV, MMLU_TEST, FakeEngine, write_jsonl


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "translations.sqlite"


@pytest.fixture
def mmlu_source(tmp_path: Path) -> Path:
    """A folder with test.jsonl and dev.jsonl in the cais/mmlu columns."""
    folder = tmp_path / "mmlu_src"
    write_jsonl(folder / "test.jsonl", MMLU_TEST)
    write_jsonl(folder / "dev.jsonl", MMLU_DEV)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random Llama model and its byte-level tokenizer (runner_fixtures), saved once per session; tests read it, never write into it."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from runner_fixtures import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    """The session's tiny model loaded on the CPU, as ``xbench eval`` loads it (a LoadedModel; tests must not change its weights)."""
    from xbench.runner.model import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def sample_mmlu_dir(tmp_path_factory) -> Path:
    """The bundled MMLU sample built once per session with pseudo French (en, fr_full, fr_gt_option, mixup); runs write elsewhere."""
    import xbench

    out = tmp_path_factory.mktemp("sample-mmlu") / "mmlu"
    xbench.build("mmlu_mixup", out=out, source="sample", translator="pseudo", langs="fr", formats="full,gt_option", cache=out.parent / "c.sqlite")
    return out
