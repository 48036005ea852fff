"""Which build was scored: its build signature (from build_report.json) and, on the Hub, its revision."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from xbench.runner.results import RunResult, eval_signature, write_results
from xbench.signature import build_signature

BUILD_REPORT = "build_report.json"


@dataclass(frozen=True)
class DatasetProvenance:
    build_signature: str | None  # family, translator chain, seed, xbench version of the build
    revision: str | None  # Hub commit of the dataset repo; None for a local folder


def dataset_provenance(dataset: str) -> DatasetProvenance:
    folder = Path(dataset)
    if folder.is_dir():
        return DatasetProvenance(_local_build_signature(folder / BUILD_REPORT), None)
    return _hub_provenance(dataset)


def _local_build_signature(path: Path) -> str | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return build_signature(report["dataset"], report["translator"], report["seed"], report["xbench_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not built by xbench (or an older build): nothing to claim


def _hub_provenance(repo: str) -> DatasetProvenance:
    """Best effort: the run already read the dataset, so a failure here only leaves the fields empty."""
    try:
        from huggingface_hub import HfApi, hf_hub_download

        revision = HfApi().dataset_info(repo).sha
    except Exception:
        return DatasetProvenance(None, None)
    try:
        report = Path(hf_hub_download(repo, BUILD_REPORT, repo_type="dataset", revision=revision))
    except Exception:
        return DatasetProvenance(None, revision)  # a dataset not built by xbench
    return DatasetProvenance(_local_build_signature(report), revision)


def record_provenance(result: RunResult, provenance: DatasetProvenance, folder: Path, *, rewrite: bool = True) -> RunResult:
    """Record which build was scored, in the fields and the signature; with ``rewrite`` (rank 0), results.json in ``folder`` too."""
    if provenance.build_signature is None and provenance.revision is None:
        return result
    result.build_signature = provenance.build_signature
    result.dataset_revision = provenance.revision
    result.signature = eval_signature(
        result.dataset, result.config, result.prompt, result.dataset_hash, build=provenance.build_signature, revision=provenance.revision
    )
    if rewrite:
        write_results(folder, result)
    return result
