"""MMLU in mixed languages: cais/mmlu (or local files) in 8 formats per language."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import datasets

from xbench.errors import InputError
from xbench.family import Family, MixedBuilder, NoOptions, Row
from xbench.paper import STUDY_CITATION
from xbench.sources import TABLE_SUFFIXES, existing_path, load_hub_dataset, read_table, validate_mc_row
from xbench.translation.human import HUMAN_FIRST

HUB_SOURCE = "cais/mmlu"
SAMPLE = "sample"
SPLITS = ("test", "dev")

CITATION = (
    STUDY_CITATION
    + """
@article{hendryckstest2021,
  title={Measuring Massive Multitask Language Understanding},
  author={Dan Hendrycks and Collin Burns and Steven Basart and Andy Zou and Mantas Mazeika and Dawn Song and Jacob Steinhardt},
  journal={Proceedings of the International Conference on Learning Representations (ICLR)},
  year={2021}
}"""
)


class MmluMixup(MixedBuilder):
    COLUMNS: ClassVar[dict[str, Any]] = {
        "question": datasets.Value("string"),
        "subject": datasets.Value("string"),
        "choices": datasets.List(datasets.Value("string")),
        "answer": datasets.ClassLabel(names=["A", "B", "C", "D"]),
        "id": datasets.Value("string"),
    }


def load_source(source: str | None, splits: tuple[str, ...] = SPLITS, options: NoOptions = NoOptions(), seed: int = 0) -> dict[str, list[Row]]:
    """Rows per split, validated, with stable ids ``subject/split/index``."""
    if source is None:
        raw = _load_hub(splits)
    elif source == SAMPLE:
        folder = resources.files("xbench.builders.mmlu_mixup") / "sample"
        raw = {split: (f"sample/{split}.jsonl", read_table(Path(str(folder / f"{split}.jsonl")))) for split in splits}
    else:
        raw = _load_local(existing_path(source), splits)
    return {split: _canonical(rows, where, split) for split, (where, rows) in raw.items()}


def _load_hub(splits: tuple[str, ...]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    remedy = "check the network or pass --source PATH with local test/dev files"
    return {split: (f"{HUB_SOURCE}:{split}", load_hub_dataset(HUB_SOURCE, "all", split, remedy=remedy).to_list()) for split in splits}


def _load_local(path: Path, splits: tuple[str, ...]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    if path.is_file():
        if "test" not in splits:
            raise InputError(f"--source {path}: a single file is taken as the test split, but --splits has no test")
        return {"test": (str(path), read_table(path))}
    if (path / "test").is_dir() and any((path / "test").glob("*_test.csv")):
        return {split: (str(path / split), _read_hendrycks(path / split, split)) for split in splits}
    found = {}
    for split in splits:
        candidates = sorted(p for p in path.glob(f"{split}*") if p.suffix.lower() in TABLE_SUFFIXES)
        if not candidates:  # a cais/mmlu snapshot: all/ holds every subject; per-subject folders repeat them
            nested = sorted(p for p in path.glob(f"*/{split}-*") if p.suffix.lower() in TABLE_SUFFIXES)
            folders = sorted({p.parent for p in nested})
            if path / "all" in folders:
                nested = [p for p in nested if p.parent == path / "all"]
            elif len(folders) > 1:
                raise InputError(f"--source {path}: {split} files in {len(folders)} folders; point --source at one of them (or at all/)")
            candidates = nested
        if not candidates:
            raise InputError(f"--source {path}: no {split} file (expected {split}.parquet, {split}.jsonl or {split}-*.parquet)")
        found[split] = (str(candidates[0]) if len(candidates) == 1 else str(path), [r for c in candidates for r in read_table(c)])
    return found


def _read_hendrycks(folder: Path, split: str) -> list[dict[str, Any]]:
    """Headerless ``{subject}_{split}.csv`` files: question, A, B, C, D, answer letter."""
    rows = []
    for file in sorted(folder.glob(f"*_{split}.csv")):
        subject = file.name[: -len(f"_{split}.csv")]
        for number, cells in enumerate(read_table(file, header=False), 1):
            values = list(cells.values())
            if len(values) != 6:
                raise InputError(f"{file}: row {number}: expected 6 columns (question, A, B, C, D, answer), got {len(values)}")
            rows.append({"question": values[0], "subject": subject, "choices": values[1:5], "answer": values[5]})
    if not rows:
        raise InputError(f"{folder}: no *_{split}.csv files")
    return rows


def _canonical(records: list[dict[str, Any]], where: str, split: str) -> list[Row]:
    rows: list[Row] = []
    per_subject: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        row = validate_mc_row(record, f"{where}: row {number}")
        subject = row.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            raise InputError(f"{where}: row {number}: missing subject")
        index = per_subject.get(subject, 0)
        per_subject[subject] = index + 1
        rows.append(
            {
                "question": row["question"],
                "subject": subject,
                "choices": row["choices"],
                "answer": row["answer"],
                "id": f"{subject}/{split}/{index}",
            }
        )
    return rows


FAMILY = Family(
    name="mmlu_mixup",
    builder=MmluMixup,
    load_source=load_source,
    card_template="mmlu_mixup.md",
    pretty_name="MMLU in mixed languages (xbench)",
    license="mit",
    task_categories=("question-answering", "multiple-choice"),
    source_datasets=(HUB_SOURCE,),
    citation=CITATION,
    splits=SPLITS,
    memory_prefer=HUMAN_FIRST,  # imported MMMLU / Global-MMLU cells win over machine ones
)
