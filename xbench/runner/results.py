"""The results schema: ``results.json`` per run and ``samples.jsonl`` per scored question.

Key names follow lm-evaluation-harness where they fit (``n-shot``, ``prompt_hash``). Every
result carries a one-line signature so any number can be reproduced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xbench import __version__

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "xbench")


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

    def fingerprint(self) -> str:
        """A short stable hash of every field: samples scored under other settings are not reused."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode("utf-8")).hexdigest()[:16]


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
    settings: str = ""  # PromptSettings.fingerprint() of the run that scored it


@dataclass
class Metric:
    value: float
    stderr: float


@dataclass
class RunResult:
    model: str
    model_revision: str | None
    dataset: str
    dataset_revision: str | None
    config: str
    split: str
    prompt: PromptSettings
    seed: int
    n_samples: int
    metrics: dict[str, Metric]
    per_subject: dict[str, Metric]
    signature: str
    dtype: str = ""
    device: str = ""
    tokenizer: str | None = None  # --tokenizer, when not the model's own
    schema_version: int = SCHEMA_VERSION
    xbench_version: str = __version__
    git_commit: str | None = field(default_factory=lambda: git_commit())
    packages: dict[str, str] = field(default_factory=lambda: package_versions())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        data = dict(data)
        data["prompt"] = PromptSettings(**{"protocol": "harness", **data["prompt"]})  # runs before protocols were harness
        data["metrics"] = {k: Metric(**v) for k, v in data["metrics"].items()}
        data["per_subject"] = {k: Metric(**v) for k, v in data["per_subject"].items()}
        return cls(**data)


def signature(dataset: str, config: str, prompt: PromptSettings) -> str:
    name = Path(dataset).name if Path(dataset).exists() else dataset
    extra = f"|protocol:{prompt.protocol}" if prompt.protocol != "-" else ""
    extra += "|chat:1" if prompt.chat_template else ""
    extra += f"|sys:{prompt_hash(prompt.system_prompt)[:8]}" if prompt.system_prompt else ""
    return (
        f"xbench:{name}|cfg:{config}|shots:{prompt.shots}|demos:{prompt.demos}|ids:{prompt.ids}"
        f"|instr:{prompt.instruction}|strategy:{prompt.strategy}{extra}|v:{__version__}"
    )


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
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
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


def read_samples(path: Path) -> list[Sample]:
    if not path.is_file():
        return []
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                samples.append(Sample(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                break  # a line cut by a crash: everything before it is kept
    return samples


def write_results(folder: Path, result: RunResult) -> Path:
    path = folder / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_results(path: Path) -> RunResult:
    from xbench.errors import InputError

    try:
        return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not an xbench results.json ({type(err).__name__}: {err})") from None
