"""What a build folder holds: configs, splits and rows (from the parquet footers), its signature and card."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xbench.built_dataset import CARD_FILE, REPORT_FILE, front_matter, read_build_report, report_signature
from xbench.card import build_notice
from xbench.errors import InputError


@dataclass
class BuildInfo:
    family: str
    pretty_name: str | None
    default_config: str | None
    signature: str | None
    notice: str | None  # sample or pseudo build
    configs: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows


def read_build_info(folder: str | Path) -> BuildInfo:
    import pyarrow.parquet as pq

    folder = Path(folder)
    card = folder / CARD_FILE
    if not folder.is_dir() or not card.is_file():
        raise InputError(f"{folder}: not a build folder (README.md with a configs: block expected)")
    metadata = front_matter(card.read_text(encoding="utf-8"), str(card))
    if metadata is None:
        raise InputError(f"{card}: no YAML front matter")
    report = read_build_report(folder / REPORT_FILE)
    info = BuildInfo(
        family=report.get("dataset", folder.name),
        pretty_name=metadata.get("pretty_name"),
        default_config=None,
        signature=report_signature(report),
        notice=build_notice(str(report.get("translator", "")), report.get("source")) if report else None,
    )
    for entry in metadata.get("configs", []):
        name = entry["config_name"]
        if entry.get("default"):
            info.default_config = name
        splits = info.configs.setdefault(name, {})
        for data in entry.get("data_files", []):
            files = sorted(folder.glob(data["path"]))
            splits[data["split"]] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return info
