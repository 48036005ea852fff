"""The results schema: ``results.json`` per run and ``samples.jsonl`` per scored question.

Key names follow lm-evaluation-harness where they fit (``n-shot``, ``prompt_hash``). Every
result carries a one-line signature so any number can be reproduced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from xbench import __version__
from xbench.about import DISTRIBUTION
from xbench.errors import InputError
from xbench.signature import signature, signature_fields

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
_PACKAGES = {"torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers", "datasets": "datasets", "xbench": DISTRIBUTION}


@dataclass(frozen=True)
class PromptSettings:
    """Everything that decides a sample's prompt and score: the signature and the resume key derive from it."""

    shots: int
    demos: str  # english | same | translate
    ids: str  # ABCD | abcd | 1234
    instruction: str  # none | aware0 | aware1 (aware2: the study's translate-then-answer)
    strategy: str  # maxprob | first-token
    protocol: str = "-"  # study | harness (xbench.runner.protocols); "-" where no protocol applies
    chat_template: bool = False  # the prompt went through the tokenizer's chat template
    system_prompt: str | None = None


@dataclass
class Sample:
    id: str
    subject: str
    prompt_hash: str
    probs: list[float]
    logprobs: list[float]
    prediction: int
    target: int
    correct: bool
    generation: str | None = None  # translate-then-answer demos only
    run_key: str = ""  # resume_key() of the run that scored it; only samples of the same key are resumed
    prompt: str | None = None  # the full prompt, with --log-samples only


@dataclass
class Metric:
    value: float
    stderr: float


EVAL, MT, EMBED, SCORE = "eval", "mt", "embed", "score"  # RunResult.kind: xbench eval, mt-eval, embed, score


@dataclass
class RunResult:
    """One scored run: ``kind`` says which command made it, ``settings`` what besides model and data decided its numbers.

    An eval's settings are its PromptSettings (see :attr:`prompt`), written under the
    results.json key ``prompt``; the other kinds write theirs under ``settings``.
    """

    kind: str
    model: str
    model_revision: str | None
    dataset: str
    dataset_revision: str | None
    config: str
    split: str
    settings: dict[str, Any]
    seed: int
    n_samples: int
    metrics: dict[str, Metric]
    per_subject: dict[str, Metric]
    signature: str
    dtype: str = ""
    device: str = ""
    tokenizer: str | None = None  # --tokenizer, when not the model's own
    dataset_hash: str | None = None  # built_dataset.content_hash() of the local files read; None for a Hub id
    run_key: str = ""
    build_signature: str | None = None  # of the scored build (its build_report.json): family, translator chain, seed, version
    flags: list[str] = field(default_factory=list)  # e.g. accuracy at chance, one letter for almost every answer
    schema_version: int = SCHEMA_VERSION
    xbench_version: str = __version__
    git_commit: str | None = field(default_factory=lambda: git_commit())
    packages: dict[str, str] = field(default_factory=lambda: package_versions())

    @property
    def prompt(self) -> PromptSettings:
        """An eval's prompt settings."""
        if self.kind != EVAL:
            raise TypeError(f"a {self.kind} result has no prompt settings")
        return PromptSettings(**self.settings)

    def to_dict(self) -> dict:
        settings_key = "prompt" if self.kind == EVAL else "settings"
        return {settings_key if key == "settings" else key: value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        data = dict(data)
        settings = data.pop("prompt") if "prompt" in data else data.pop("settings")
        kind = data.pop("kind", None) or _kind_before_kinds(settings)
        if kind == EVAL:
            settings = {"protocol": "harness", **settings}  # runs before protocols were harness
        data["metrics"] = {k: Metric(**v) for k, v in data["metrics"].items()}
        data["per_subject"] = {k: Metric(**v) for k, v in data["per_subject"].items()}
        return cls(kind=kind, settings=settings, **data)


def _kind_before_kinds(prompt: dict[str, Any]) -> str:
    """The kind of a results.json written before results had one: the probes and score recorded it as the strategy."""
    strategy = str(prompt.get("strategy", ""))
    if strategy == MT:
        return MT
    if strategy.startswith("embed|"):
        return EMBED
    return SCORE if strategy.startswith("external|") else EVAL


def eval_signature(
    dataset: str, config: str, prompt: PromptSettings, dataset_hash: str | None = None, *, build: str | None = None, revision: str | None = None
) -> str:
    """An eval run's signature; ``dataset_hash`` (local files), ``revision`` (Hub) and ``build`` (a build signature) name the data scored."""
    built = signature_fields(build) if build else {}
    build_part = f"{built.get('xbench', '?')}/{built.get('translator', '?')}/seed:{built.get('seed', '?')}/v:{built.get('v', '?')}" if build else None
    return signature(
        dataset_name(dataset),
        [
            ("cfg", config),
            ("data", dataset_hash[:12] if dataset_hash else None),
            ("rev", revision[:12] if revision else None),
            ("build", build_part),
            ("shots", prompt.shots),
            ("demos", prompt.demos),
            ("ids", prompt.ids),
            ("instr", prompt.instruction),
            ("strategy", prompt.strategy),
            ("protocol", prompt.protocol if prompt.protocol != "-" else None),
            ("chat", 1 if prompt.chat_template else None),
            ("sys", prompt_hash(prompt.system_prompt)[:8] if prompt.system_prompt else None),
        ],
    )


def dataset_name(dataset: str) -> str:
    """How a signature names the data: a local path by its last part, a Hub id as it is."""
    return Path(dataset).name if Path(dataset).exists() else dataset


def sample_record(sample: Any) -> dict:
    """A samples.jsonl line from a sample dataclass or a plain record: the prompt only when it was logged (--log-samples)."""
    record = asdict(sample) if is_dataclass(sample) else dict(sample)
    if record.get("prompt", "") is None:
        del record["prompt"]
    return record


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def accuracy(correct: list[bool]) -> Metric:
    return mean_stderr([float(c) for c in correct])


def mean_stderr(values: list[float]) -> Metric:
    """Mean with the standard error of the mean (sample standard deviation, n - 1)."""
    n = len(values)
    if n == 0:
        return Metric(float("nan"), float("nan"))
    mean = sum(values) / n
    if n == 1:
        return Metric(mean, float("nan"))
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Metric(mean, math.sqrt(variance / n))


def package_versions() -> dict[str, str]:
    versions = {}
    for name, dist in _PACKAGES.items():
        try:
            versions[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def read_samples(path: Path, kind: type = Sample) -> list[Any]:
    """The samples of a samples.jsonl (``kind``: Sample, or GenerationSample for generation runs)."""
    if not path.is_file():
        return []
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                samples.append(kind(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                break  # a line cut by a crash: everything before it is kept
    return samples


def sample_line(sample: Any) -> str:
    """One samples.jsonl line."""
    return json.dumps(sample_record(sample), ensure_ascii=False) + "\n"


def write_samples(folder: Path, samples: Iterable[Any], file: str = SAMPLES_FILE) -> Path:
    """The finished samples.jsonl (or another per-sample ``file``), one JSON line per sample in order, replacing any earlier one atomically."""
    path = folder / file
    replace_text(path, "".join(sample_line(s) for s in samples))
    return path


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_out_folder(out: Path) -> None:
    """--out must be a folder, or creatable as one, before any model is loaded."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} is a file; give a folder for the run")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"--out: {existing} is a file, so {out} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out: {existing} is not writable")


def write_results(folder: Path, result: RunResult) -> Path:
    path = folder / RESULTS_FILE
    replace_text(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path


def load_results(path: Path) -> RunResult:
    try:
        return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not an xbench results.json ({type(err).__name__}: {err})") from None
