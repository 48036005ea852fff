"""Resuming a run: which samples already on disk were scored exactly as this run would score them.

Every sample carries the ``run_key`` of the run that scored it, a hash of everything that can
change a prediction (model, prompt settings, data, config, split, xbench version); samples are
written as they are scored, so an interrupted run keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from xbench import __version__, built_dataset
from xbench.languages import SOURCE_LANGUAGE
from xbench.runner.model import LoadedModel, model_fingerprint
from xbench.runner.results import SAMPLES_FILE, PromptSettings, Sample, read_samples, replace_text, sample_line


def run_identity(loaded: LoadedModel, dataset: str, config: str, split: str, settings: PromptSettings) -> tuple[str | None, str]:
    """(content hash of the local files read, resume key): a sample is reused only under the same key."""
    read = [config] + ([SOURCE_LANGUAGE] if settings.shots and settings.demos in ("english", "translate") else [])
    dataset_hash = built_dataset.content_hash(dataset, read) if built_dataset.is_local(dataset) else None
    key = resume_key(model=model_fingerprint(loaded), prompt=settings, dataset=dataset_hash or dataset, config=config, split=split, xbench=__version__)
    return dataset_hash, key


def resume_key(**parts: Any) -> str:
    """A short hash of everything that can change a prediction; a sample is resumed only under the same key.

    Dataclasses enter whole, so a setting added to the prompt settings is part of the key
    without being listed here.
    """
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=True, default=_plain)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"resume_key: cannot hash a {type(value).__name__}")


def sample_files(folder: Path) -> list[Path]:
    """samples.jsonl and the per-rank files of an interrupted distributed run."""
    return [folder / SAMPLES_FILE, *sorted(folder.glob("samples.rank*.jsonl"))]


def resumable_samples(folder: Path, key: str, wanted: Mapping[str, tuple[str, Any]], kind: type = Sample, answer: str = "target") -> dict[str, Any]:
    """Samples already in ``folder`` that this run would score the same way.

    ``wanted``: {id: (prompt hash, expected answer)} of the rows to score. A sample is kept only
    if it was scored under ``key`` for the same prompt and answer (its ``answer`` field);
    anything else is scored again.
    """
    found = {s.id: s for path in sample_files(folder) for s in read_samples(path, kind)}
    return {i: s for i, s in found.items() if s.run_key == key and wanted.get(i) == (s.prompt_hash, getattr(s, answer))}


@contextmanager
def sample_log(path: Path, kept: Iterable[Any]) -> Iterator[Callable[[Iterable[Any]], None]]:
    """Samples written as they are scored: ``path`` is replaced by ``kept``, then each batch is appended and flushed.

    A crash loses at most the batch being scored; a line it cuts is dropped when resuming.
    """
    replace_text(path, "".join(sample_line(s) for s in kept))
    with open(path, "a", encoding="utf-8") as sink:

        def append(samples: Iterable[Any]) -> None:
            sink.writelines(sample_line(s) for s in samples)
            sink.flush()

        yield append
