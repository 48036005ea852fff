"""Plain functions, classes and rows shared by test modules (``from helpers import ...``); fixtures live in conftest.py."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import TypeVar

from xbench.errors import SegmentError, TransientEngineError


def real_mmlu() -> Path:
    """The real MMLU test split: $XBENCH_REAL_MMLU, else shared/data/mmlu/test.parquet beside the checkout or a folder above it."""
    given = os.environ.get("XBENCH_REAL_MMLU")
    if given:
        return Path(given)
    candidates = [parent / "shared" / "data" / "mmlu" / "test.parquet" for parent in Path(__file__).resolve().parents]
    return next((c for c in candidates if c.is_file()), candidates[0])


T = TypeVar("T")


def sized(full: T, small: T) -> T:
    """``full`` unless $XBENCH_BENCH_SIZE is ``small``: the benchmarks' size knob.

    ``full`` (the default) gives the measurements the README reports; ``small`` runs every
    benchmark once on small inputs, so that CI can check them all within minutes.
    """
    size = os.environ.get("XBENCH_BENCH_SIZE", "full")
    if size not in ("full", "small"):
        raise ValueError(f"XBENCH_BENCH_SIZE={size!r}: choose full or small")
    return full if size == "full" else small


class FakeEngine:
    """Translates ``text`` to ``<fr>text``; records every request; can fail on demand.

    ``fail_texts``: units that always fail permanently. ``transient``: how many first
    requests raise a transient error. ``merge_packs``: answer multi-unit packs with one
    line too few (as a web engine merging lines would), forcing the translator to split.
    """

    def __init__(self, name: str = "fake", max_chars: int = 5000, fail_texts=(), transient: int = 0, merge_packs: bool = False):
        self.name = name
        self.max_chars = max_chars
        self.concurrency = 2
        self.fail_texts = set(fail_texts)
        self.transient = transient
        self.merge_packs = merge_packs
        self.requests: list[tuple[list[str], str, str]] = []
        self._lock = threading.Lock()

    @property
    def units(self) -> list[str]:
        return [unit for texts, _, _ in self.requests for unit in texts]

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        with self._lock:
            self.requests.append((list(texts), source, target))
            if self.transient > 0:
                self.transient -= 1
                raise TransientEngineError(f"{self.name}: HTTP 429")
        assert all("\n" not in t and t == t.strip() and t for t in texts), texts
        assert sum(len(t) for t in texts) + len(texts) - 1 <= self.max_chars
        if self.merge_packs and len(texts) > 1:
            return [f"<{target}>{t}" for t in texts[:-1]]
        failing = [t for t in texts if t in self.fail_texts]
        if failing:
            raise SegmentError(f"{self.name}: cannot translate {failing[0]!r}")
        return [f"<{target}>{t}" for t in texts]


MMLU_TEST = [
    {"question": "What is 2 + 2?", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "22"], "answer": 1},
    {
        "question": "Passage: a train leaves at noon.\nWhen does it leave?",
        "subject": "elementary_mathematics",
        "choices": ["At noon", "At midnight", "At dawn", "Never"],
        "answer": 0,
    },
    {
        "question": "  Which river flows through Paris? ",
        "subject": "high_school_geography",
        "choices": ["The Thames", "The Danube", "The Seine", "The Rhine"],
        "answer": 2,
    },
    {"question": "Which city is in Brazil?", "subject": "high_school_geography", "choices": ["Lima", "Quito", "Bogotá", "São Paulo"], "answer": 3},
    {"question": "What is 3 x 3?", "subject": "elementary_mathematics", "choices": ["6", "9", "4", "At noon"], "answer": 1},
]
MMLU_DEV = [
    {"question": "What is 1 + 1?", "subject": "elementary_mathematics", "choices": ["1", "2", "3", "4"], "answer": 1},
    {"question": "Which ocean is the largest?", "subject": "high_school_geography", "choices": ["Pacific", "Atlantic", "Indian", "Arctic"], "answer": 0},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_xbench_card(folder: Path, family: str, configs: dict[str, dict]) -> Path:
    """A README.md whose front matter holds only the ``xbench:`` block of a build's card (its configs' metadata)."""
    import yaml

    block = yaml.safe_dump({"xbench": {"family": family, "configs": configs}}, sort_keys=False, allow_unicode=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"---\n{block}---\n", encoding="utf-8")
    return folder


def torchrun_xbench(processes: int = 2) -> list[str]:
    """The command that runs ``xbench`` under torchrun with ``processes`` local ranks (gloo on CPU), on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        "-m",
        "xbench.cli",
    ]
