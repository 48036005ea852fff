"""HP-Quiz v2: a 300-question Harry Potter domain-knowledge quiz (157 character, 143 spell questions).

The English quiz and curated French, German, Spanish and Italian translations ship with xbench
(data/), so ``xbench build hp_quiz`` needs no network. The quiz the study's authors published
(``cross-ling-know/HarryPotter-Quiz``: splits English, German, French, Italian, Spanish; columns
question, A, B, C, D, GT) can be read instead with ``--source`` (Hub id or local folder/file).
Every bundled row carries ``source_tier`` and an ``evidence`` page; a 10-question dev split
serves few-shot demos. ``xbench audit`` measures how far surface cues get on any build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import datasets

from xbench.errors import InputError
from xbench.family import Family, Lookup, MixedBuilder, NoOptions, Row, mc_segments, mix_row
from xbench.formats import ConfigSpec
from xbench.languages import SOURCE_LANGUAGE, get_language
from xbench.paper import STUDY_CITATION
from xbench.sources import LETTERS, TABLE_SUFFIXES, load_hub_dataset, read_table, validate_mc_row

ORIGINAL_HUB = "cross-ling-know/HarryPotter-Quiz"
# Split names of the published quiz, by language code.
ORIGINAL_SPLITS = {"en": "English", "de": "German", "fr": "French", "it": "Italian", "es": "Spanish"}
CURATED_LANGUAGES = ("fr", "de", "es", "it")
QUIZ_FILES = ("characters.jsonl", "spells.jsonl")
DEV_FILE = "dev.jsonl"
SPLITS = ("dev", "test")
CURATED_ENGINE = "curated"
# Where the keyed fact is stated: the seven novels; Rowling's other writing, interviews, Wizarding World and
# Cursed Child; the films or games; or only the Harry Potter Wiki (its evidence page cites no primary source).
SOURCE_TIERS = ("books", "other_canon", "films_games", "wiki_only")
ORIGINAL_ENGINE = "original"

CITATION = STUDY_CITATION


PUBLISHED = "_published"  # per-row translations of the published quiz; never written out


def hp_row(row: Row, spec: ConfigSpec, seed: int, lookup: Lookup, options: Any) -> Row:
    """Like any MC row, but a published quiz row shows its own translation of each cell.

    The same English option can be translated differently in two rows of the published quiz
    (agreement, context); a per-text memory would keep only one of them. Cells are matched by
    position, not text: two options (or the question and an option) can share their English.
    """
    published = row.get(PUBLISHED) or {}

    def own(cell: str, lang: str) -> tuple[str, str] | None:
        cells = published.get(lang)
        if cells is None:
            return None
        if cell == "question":
            return cells["question"], ORIGINAL_ENGINE
        return cells["choices"][int(cell.removeprefix("choices[").removesuffix("]"))], ORIGINAL_ENGINE

    return mix_row({k: v for k, v in row.items() if k != PUBLISHED}, spec, seed, lookup, options, own)


def hp_segments(row: Row, spec: ConfigSpec, seed: int, options: Any) -> Iterator[tuple[str, str]]:
    """Cells to translate: those in a language the published row does not already have."""
    published = row.get(PUBLISHED) or {}
    return ((text, lang) for text, lang in mc_segments(row, spec, seed, options) if lang not in published)


class HpQuiz(MixedBuilder):
    segments = staticmethod(hp_segments)
    render = staticmethod(hp_row)
    COLUMNS: ClassVar[dict[str, Any]] = {
        "id": datasets.Value("string"),
        "category": datasets.Value("string"),
        "entity": datasets.Value("string"),
        "attribute": datasets.Value("string"),
        "question": datasets.Value("string"),
        "choices": datasets.List(datasets.Value("string")),
        "answer": datasets.ClassLabel(names=list(LETTERS)),
        "source": datasets.Value("string"),
        "source_tier": datasets.Value("string"),
        "evidence": datasets.Value("string"),
    }


def data_path(*parts: str) -> Path:
    return Path(str(resources.files("xbench.builders.hp_quiz").joinpath("data", *parts)))


@cache
def headers() -> dict[str, str]:
    """The one-line instruction header, written natively in each of the 16 languages."""
    return json.loads(data_path("headers.json").read_text(encoding="utf-8"))


def instruction_header(lang: str) -> str:
    get_language(lang)
    return headers()[lang]


def _read_rows(names: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        for number, record in enumerate(read_table(data_path(name)), 1):
            rows.append(validate_mc_row(record, f"{name}: row {number}"))
    return rows


def bundled_quiz() -> list[Row]:
    """The 300 test questions."""
    return _read_rows(QUIZ_FILES)


def bundled_dev() -> list[Row]:
    """Demo questions for few-shot runs: 5 per category, written apart from the test questions."""
    return _read_rows((DEV_FILE,))


def load_source(source: str | None, splits: tuple[str, ...] = SPLITS, options: NoOptions = NoOptions(), seed: int = 0) -> dict[str, list[Row]]:
    if source is None:
        bundled = {"dev": bundled_dev, "test": bundled_quiz}
        return {split: bundled[split]() for split in splits}
    if "test" not in splits:
        raise InputError(f"--source {source}: the published quiz has only a test split")
    english, translated = _published(source)
    rows = []
    for index, row in enumerate(english):
        cells = {code: {"question": t[index]["question"], "choices": t[index]["choices"]} for code, t in translated.items()}
        rows.append({**row, "source_tier": "", "evidence": "", PUBLISHED: cells})
    return {"test": rows}


def read_original(source: str) -> dict[str, list[dict[str, Any]]]:
    """The published quiz by language code: a Hub id, a folder of ``<Split>.<ext>`` files, or one file (English)."""
    path = Path(source).expanduser()
    if path.is_file():
        return {"en": read_table(path)}
    if path.is_dir():
        found = {}
        for code, split in ORIGINAL_SPLITS.items():
            files = sorted(p for p in path.glob(f"{split}*") if p.suffix.lower() in TABLE_SUFFIXES)
            if files:
                found[code] = read_table(files[0])
        if "en" not in found:
            raise InputError(f"--source {path}: no English file (expected English.parquet, English.jsonl or English.csv)")
        return found
    if _path_like(source):
        raise InputError(f"--source {source}: does not exist")
    if source.count("/") != 1:
        raise InputError(f"--source {source}: not a file, a folder or a Hub id (ORG/NAME)")
    loaded = load_hub_dataset(source, option="--source", remedy="there is no local file or folder of that name; check the path, or the network for a Hub id")
    return {code: loaded[split].to_list() for code, split in ORIGINAL_SPLITS.items() if split in loaded}


def _path_like(source: str) -> bool:
    """A source that can only mean a local path: ./x, /x, ~/x, a file name, or a/b where folder a exists."""
    path = Path(source).expanduser()
    return (
        source.startswith((".", "/", "~"))
        or "\\" in source
        or source.count("/") > 1
        or path.suffix.lower() in TABLE_SUFFIXES
        or (source.count("/") == 1 and path.parent.is_dir())
    )


def _original_row(index: int, record: dict[str, Any], where: str = "English") -> Row:
    """question, A, B, C, D, GT (a letter) -> the xbench columns."""
    missing = [c for c in ("question", *LETTERS, "GT") if c not in record]
    if missing:
        raise InputError(f"{where}: row {index + 1}: missing column(s) {', '.join(missing)}")
    row = validate_mc_row({"question": record["question"], "choices": [record[c] for c in LETTERS], "answer": record["GT"]}, f"{where}: row {index + 1}")
    return {"id": f"original/{index}", "category": "", "entity": "", "attribute": "", **row, "source": ORIGINAL_HUB}


def card_fields() -> dict[str, str]:
    """The card's audit table (v1 as measured, v2 computed from the bundled rows) and the tier counts."""
    from xbench.cues import Baseline, markdown_table, surface_baselines

    rows = bundled_quiz()
    recorded = json.loads(data_path("audit_v1.json").read_text(encoding="utf-8"))["baselines"]
    columns = {
        "v1 (before)": [Baseline(**b) for b in recorded],
        "v2": surface_baselines(rows),
        "v2 characters": surface_baselines([r for r in rows if r["category"] == "character"]),
        "v2 spells": surface_baselines([r for r in rows if r["category"] == "spell"]),
    }
    lines = ["| source_tier | characters | spells | all |", "|---|---:|---:|---:|"]
    for tier in SOURCE_TIERS:
        counts = [sum(r["source_tier"] == tier and r["category"] == c for r in rows) for c in ("character", "spell")]
        lines.append(f"| `{tier}` | {counts[0]} | {counts[1]} | {sum(counts)} |")
    return {"audit_table": markdown_table(columns).rstrip("\n"), "tier_table": "\n".join(lines)}


def prepare_cache(store: Any, source: str | None) -> None:
    """Load the curated translations into the cache (a published quiz brings its own, per row)."""
    if source is None:
        for lang in CURATED_LANGUAGES:
            store.import_jsonl(data_path("memory", f"{lang}.jsonl"), engine=CURATED_ENGINE, replace=True)


def _published(source: str) -> tuple[list[Row], dict[str, list[Row]]]:
    """The published quiz: English rows, and the rows of each other language, checked against them."""
    published = read_original(source)
    english = [_original_row(i, r) for i, r in enumerate(published["en"])]
    translated = {}
    for code, records in published.items():
        if code == SOURCE_LANGUAGE:
            continue
        if len(records) != len(english):
            raise InputError(f"--source {source}: {ORIGINAL_SPLITS[code]} has {len(records)} rows, English has {len(english)}")
        rows = [_original_row(index, record, ORIGINAL_SPLITS[code]) for index, record in enumerate(records)]
        for index, (en_row, row) in enumerate(zip(english, rows)):
            if row["answer"] != en_row["answer"]:
                raise InputError(f"--source {source}: {ORIGINAL_SPLITS[code]} row {index + 1}: answer differs from English")
        translated[code] = rows
    return english, translated


FAMILY = Family(
    name="hp_quiz",
    builder=HpQuiz,
    load_source=load_source,
    card_template="hp_quiz.md",
    pretty_name="HP-Quiz: Harry Potter knowledge in many languages (xbench)",
    license="cc-by-sa-4.0",  # facts from the Harry Potter Wiki (CC BY-SA)
    task_categories=("question-answering", "multiple-choice"),
    source_datasets=("original",),
    citation=CITATION,
    default_langs=CURATED_LANGUAGES,
    default_formats=("full",),
    default_translator="memory",
    memory_prefer=(CURATED_ENGINE, ORIGINAL_ENGINE),  # human-made translations win over machine ones
    header=instruction_header,
    full_config_is_lang=True,
    default_config=SOURCE_LANGUAGE,
    prepare_cache=prepare_cache,
    splits=SPLITS,
    card_fields=card_fields,
)
