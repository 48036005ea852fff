"""TOFU (Maini et al., 2024) with translated questions and the English answers kept as references.

Models fine-tuned on English TOFU tend to answer in English, so scoring compares generations
against the English ``answer``. ``--translate-answers`` adds translated answers in extra columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets

from xbench.errors import InputError
from xbench.family import CellTranslator, Family, Lookup, MixedBuilder, Request, Row, plan_formats
from xbench.formats import ConfigSpec, check_config_name
from xbench.languages import SOURCE_LANGUAGE
from xbench.paper import STUDY_CITATION
from xbench.sources import existing_path, load_hub_dataset, read_table

HUB_SOURCE = "locuslab/TOFU"
DEFAULT_SUBSET = "forget10_perturbed"  # the subset the study evaluates (paraphrased questions); matches --help
SPLIT = "train"
QUESTIONS = ("question", "paraphrased_question")  # translated
ANSWERS = ("answer", "paraphrased_answer")  # English references; translated only on request

CITATION = (
    STUDY_CITATION
    + """
@article{maini2024tofu,
  title={TOFU: A Task of Fictitious Unlearning for LLMs},
  author={Maini, Pratyush and Feng, Zhili and Schwarzschild, Avi and Lipton, Zachary C. and Kolter, J. Zico},
  journal={arXiv preprint arXiv:2401.06121},
  year={2024}
}"""
)


@dataclass(frozen=True)
class TofuOptions:
    source_config: str | None = None  # the TOFU subset; names the configs (default: forget10_perturbed, or the --source file's name)
    translate_answers: bool = False


def _texts(row: Row, columns: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for column in columns:
        if isinstance(row.get(column), str):
            yield column, row[column]


def tofu_segments(row: Row, spec: ConfigSpec, seed: int, options: TofuOptions) -> Iterator[tuple[str, str]]:
    columns = QUESTIONS + (ANSWERS if options.translate_answers else ())
    for _, text in _texts(row, columns):
        yield text, spec.lang


def tofu_row(row: Row, spec: ConfigSpec, seed: int, lookup: Lookup, options: TofuOptions) -> Row:
    cells = CellTranslator(lookup)
    shown = dict(row)
    for column, text in _texts(row, QUESTIONS):
        shown[column] = cells.show(text, spec.lang, column)
    if options.translate_answers:
        for column, text in _texts(row, ANSWERS):
            shown[f"{column}_translated"] = cells.show(text, spec.lang, column)
    shown["question_lang"] = spec.lang
    shown.update(cells.provenance())
    return shown


class Tofu(MixedBuilder):
    segments = staticmethod(tofu_segments)
    render = staticmethod(tofu_row)

    def features(self) -> dict[str, Any]:
        rows = [row for split_rows in self._rows.values() for row in split_rows]
        columns: dict[str, Any] = {"id": datasets.Value("string"), **column_types(rows, "source")}
        if self._options.translate_answers:
            columns.update({f"{c}_translated": datasets.Value("string") for c in ANSWERS if c in columns})
        return {
            **columns,
            "question_lang": datasets.Value("string"),
            "translation": datasets.Value("string"),
            "untranslated": datasets.List(datasets.Value("string")),
        }


_SCALARS = {str: "string", bool: "bool", int: "int64", float: "float64"}


def column_types(rows: list[Row], where: str) -> dict[str, Any]:
    """Every column of any row, typed as its values are (a column missing from a row is null there).

    Strings, booleans, integers, floats (integers widen to float) and lists of strings are kept
    as they are; anything else (objects, nested lists, a column mixing types) is refused rather
    than stringified.
    """
    kinds: dict[str, str] = {}
    for number, row in enumerate(rows, 1):
        for column, value in row.items():
            if column == "id" or value is None:
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                kind = "list"
            elif type(value) in _SCALARS:
                kind = _SCALARS[type(value)]
            else:
                raise InputError(
                    f"{where}: row {number}: column {column!r} holds a {type(value).__name__}; only text, numbers, booleans and lists of text are kept"
                )
            seen = kinds.setdefault(column, kind)
            if seen != kind:
                if {seen, kind} == {"int64", "float64"}:
                    kinds[column] = "float64"
                else:
                    raise InputError(f"{where}: row {number}: column {column!r} is {kind} here but {seen} in an earlier row")
    return {c: datasets.List(datasets.Value("string")) if k == "list" else datasets.Value(k) for c, k in kinds.items()}


def load_source(source: str | None, splits: tuple[str, ...] = (SPLIT,), options: TofuOptions = TofuOptions(), seed: int = 0) -> dict[str, list[Row]]:
    subset = options.source_config or DEFAULT_SUBSET
    if source is None:
        records = load_hub_dataset(HUB_SOURCE, subset, SPLIT, remedy="pass --source FILE").to_list()
        where = f"{HUB_SOURCE}:{subset}"
    else:
        path = existing_path(source)
        records, where = read_table(path), str(path)
    if not records:
        raise InputError(f"{where}: no rows")
    rows = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise InputError(f"{where}: row {number}: expected a JSON object")
        for column in ("question", "answer"):
            if not isinstance(record.get(column), str) or not record[column].strip():
                raise InputError(f"{where}: row {number}: missing {column!r}")
        perturbed = record.get("perturbed_answer")
        if perturbed is not None and not (isinstance(perturbed, list) and all(isinstance(p, str) for p in perturbed)):
            raise InputError(f"{where}: row {number}: perturbed_answer must be a list of strings")
        rows.append({"id": f"{subset}/{number - 1}", **{k: v for k, v in record.items() if k != "id"}})
    column_types(rows, where)
    return {SPLIT: rows}


def plan(family: Family, request: Request) -> list[ConfigSpec]:
    """One config per language, named after the subset: ``forget10_perturbed_fr``, ``forget10_perturbed_en``."""
    if request.options.source_config:
        subset, origin = request.options.source_config, "--source-config"
    elif request.source:
        subset, origin = Path(request.source).stem, f"--source {request.source} (its file name names the configs; pass --source-config NAME)"
    else:
        subset, origin = DEFAULT_SUBSET, "config"
    return [replace(spec, name=check_config_name(f"{subset}_{spec.lang}", origin)) for spec in plan_formats(family, request)]


def cell_languages(spec: ConfigSpec) -> tuple[str, ...]:
    """The questions are in the config's language; the answers stay English."""
    return tuple(dict.fromkeys((SOURCE_LANGUAGE, spec.lang)))


FAMILY = Family(
    name="tofu",
    builder=Tofu,
    load_source=load_source,
    card_template="tofu.md",
    pretty_name="TOFU with translated questions (xbench)",
    license="mit",
    task_categories=("question-answering", "text-generation"),
    source_datasets=(HUB_SOURCE,),
    citation=CITATION,
    default_formats=("full",),
    splits=(SPLIT,),
    full_config_is_lang=True,
    default_config=SOURCE_LANGUAGE,
    plan=plan,
    options=TofuOptions,
    kind="generation",
    cell_languages=cell_languages,
)
