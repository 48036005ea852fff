"""Human translations of the MMLU test items (MMMLU, Global-MMLU) as a translation memory.

Each source row is tied to its cais/mmlu item (``subject/split/index``): Global-MMLU names it in
``sample_id``; MMMLU lists the items of each subject in cais/mmlu order, so its n-th row of a
subject is that subject's item n. Rows whose subject, index or answer do not line up with the
English items are refused, naming the first. Cells are stored under the English text of the item
with the cell's provenance as the engine name, so ``--translator memory,google`` takes them
first and machine-translates only the gaps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.errors import InputError
from xbench.languages import LANGUAGES
from xbench.sources import LETTERS, TABLE_SUFFIXES, read_table

PROVENANCES = ("human", "post-edited", "mt-unchecked")
# Memory entries of these engines win, in this order, over machine translations stored earlier.
HUMAN_FIRST = ("reviewed", "human", "post-edited", "mt-unchecked")
SOURCES = ("mmmlu", "global-mmlu")
MMMLU_COLUMNS = ("Question", "A", "B", "C", "D", "Answer", "Subject")
GLOBAL_MMLU_COLUMNS = ("sample_id", "subject", "question", "option_a", "option_b", "option_c", "option_d", "answer", "is_annotated")
CULTURE_COLUMNS = ("cultural_sensitivity_label", "required_knowledge", "region")
FIELDS = ("question", "choice0", "choice1", "choice2", "choice3")


@dataclass(frozen=True)
class HumanCell:
    """One translated cell of one MMLU item."""

    item: str  # subject/split/index
    field: str  # question or choice0..choice3
    lang: str
    source: str  # the English text of the cell
    target: str
    provenance: str


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _language_of(path: Path) -> str | None:
    """``mmlu_FR-FR.csv`` -> fr; ``fr/test.parquet`` or ``fr.csv`` -> fr."""
    stem = path.stem.lower()
    match = re.search(r"(?:^|_)([a-z]{2})(?:[-_][a-z]{2})?$", stem)
    if match and match.group(1) in LANGUAGES:
        return match.group(1)
    parent = path.parent.name.lower()
    return parent if parent in LANGUAGES else None


def discover_files(path: Path) -> dict[str, Path]:
    """{language: file} for a file or a folder of per-language files."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
    else:
        raise InputError(f"{path}: no such file or folder (a Hub id needs network; download the files and give their path)")
    found: dict[str, Path] = {}
    for file in files:
        lang = _language_of(file)
        if lang is not None and lang != "en":
            found.setdefault(lang, file)
    return found


def select_languages(found: Mapping[str, Path], langs: Iterable[str] | None, where: Path) -> dict[str, Path]:
    wanted = list(langs) if langs else sorted(found)
    if not wanted:
        raise InputError(f"{where}: cannot tell the language of any file (name them like mmlu_FR-FR.csv or fr/test.parquet, or give --langs)")
    missing = [lang for lang in wanted if lang not in found]
    if missing:
        raise InputError(f"{where}: has no {', '.join(missing)}; it has {', '.join(sorted(found)) or 'none'}")
    return {lang: found[lang] for lang in wanted}


def _check_layout(rows: list[dict[str, Any]], columns: tuple[str, ...], path: Path, source: str) -> None:
    present = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(f"{path}: not a {source} file: missing column(s) {', '.join(missing)}")


def _mmmlu_items(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[str], str, str]]:
    per_subject: dict[str, int] = {}
    items = []
    for row in rows:
        subject = str(row["Subject"]).strip()
        index = per_subject.get(subject, 0)
        per_subject[subject] = index + 1
        choices = [str(row[letter]) for letter in LETTERS]
        items.append((f"{subject}/test/{index}", str(row["Question"]), choices, str(row["Answer"]).strip(), "human"))
    return items


def _global_items(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[str], str, str]]:
    items = []
    for row in rows:
        choices = [str(row[f"option_{letter}"]) for letter in "abcd"]
        provenance = "post-edited" if _truthy(row["is_annotated"]) else "mt-unchecked"
        items.append((str(row["sample_id"]).strip(), str(row["question"]), choices, str(row["answer"]).strip(), provenance))
    return items


def read_cells(source: str, path: Path, lang: str, english: Mapping[str, Mapping[str, Any]]) -> tuple[list[HumanCell], dict[str, dict[str, str]]]:
    """The cells of one language file, aligned with ``english`` ({id: cais/mmlu row}).

    Returns the cells and, for Global-MMLU, the culture labels per item id.
    """
    if source not in SOURCES:
        raise InputError(f"--from {source!r}: expected one of {', '.join(SOURCES)}")
    rows = read_table(path)
    if not rows:
        raise InputError(f"{path}: no rows")
    _check_layout(rows, MMMLU_COLUMNS if source == "mmmlu" else GLOBAL_MMLU_COLUMNS, path, source)
    items = _mmmlu_items(rows) if source == "mmmlu" else _global_items(rows)
    cells: list[HumanCell] = []
    labels: dict[str, dict[str, str]] = {}
    for number, (item, question, choices, answer, provenance) in enumerate(items, 1):
        en = english.get(item)
        where = f"{path}: row {number} ({item})"
        if en is None:
            raise InputError(f"{where}: no such item in the English cais/mmlu test split; the rows do not line up")
        if answer.upper() not in LETTERS or LETTERS.index(answer.upper()) != en["answer"]:
            raise InputError(f"{where}: answer {answer!r} but the English item's is {LETTERS[en['answer']]}; the rows do not line up")
        for field, text, en_text in zip(FIELDS, [question, *choices], [en["question"], *en["choices"]], strict=True):
            if text.strip() and en_text.strip():
                cells.append(HumanCell(item, field, lang, en_text, text, provenance))
        if source == "global-mmlu":
            labels[item] = {c: "" if rows[number - 1].get(c) is None else str(rows[number - 1][c]) for c in CULTURE_COLUMNS}
    return cells, labels


@dataclass(frozen=True)
class ImportSummary:
    added: int  # new entries
    kept: int  # cells whose English text already had a different human entry (kept: no --replace)
    by_provenance: dict[str, int]


def store_cells(cache: Any, cells: list[HumanCell], *, replace: bool = False) -> ImportSummary:
    """Store cells in ``cache`` (a TranslationCache) under their provenance as the engine name.

    The memory is keyed by English text: where two items share a text (an option "True"), the
    first cell wins, as it does for an existing entry unless ``replace``.
    """
    grouped: dict[tuple[str, str], dict[str, str]] = {}
    for cell in cells:
        grouped.setdefault((cell.provenance, cell.lang), {}).setdefault(cell.source, cell.target)
    added = kept = 0
    by_provenance: dict[str, int] = {}
    for (provenance, lang), pairs in sorted(grouped.items()):
        existing = cache.lookup(provenance, "en", lang, pairs)
        kept += 0 if replace else sum(1 for s, t in pairs.items() if s in existing and existing[s] != t)
        cache.store(provenance, "en", lang, pairs.items(), replace=replace)
        added += sum(1 for s in pairs if s not in existing)
        by_provenance[provenance] = by_provenance.get(provenance, 0) + len(pairs)
    return ImportSummary(added, kept, by_provenance)


def english_items(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """{id: row} of cais/mmlu rows as ``load_source`` gives them (with ``id``)."""
    return {row["id"]: row for row in rows}
