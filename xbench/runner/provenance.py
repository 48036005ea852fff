"""Which build was scored: its build signature (from build_report.json) and, on the Hub, its revision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xbench.built_dataset import REPORT_FILE, read_build_report, report_signature
from xbench.runner.results import RunResult, eval_signature, write_results


@dataclass(frozen=True)
class DatasetProvenance:
    build_signature: str | None  # family, translator chain, seed, xbench version of the build
    revision: str | None  # Hub commit of the dataset repo; None for a local folder


def dataset_provenance(dataset: str) -> DatasetProvenance:
    folder = Path(dataset)
    if folder.is_dir():
        return DatasetProvenance(report_signature(read_build_report(folder / REPORT_FILE)), None)
    return _hub_provenance(dataset)


def _hub_provenance(repo: str) -> DatasetProvenance:
    """Best effort: the run already read the dataset, so a failure here only leaves the fields empty."""
    try:
        from huggingface_hub import HfApi, hf_hub_download

        revision = HfApi().dataset_info(repo).sha
    except Exception:
        return DatasetProvenance(None, None)
    try:
        report = Path(hf_hub_download(repo, REPORT_FILE, repo_type="dataset", revision=revision))
    except Exception:
        return DatasetProvenance(None, revision)  # a dataset not built by xbench
    return DatasetProvenance(report_signature(read_build_report(report)), revision)


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
