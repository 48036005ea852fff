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
