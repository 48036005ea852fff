"""Per-cell quality estimates of a build's translated cells, written beside the build.

``roundtrip``: each translated cell goes back to English through an engine chain and is scored
with sentence chrF (sacrebleu) against the English source cell. Scores land in ``qe.parquet``
(one row per item id, field and language) and a summary in ``qe_report.json``; the build's own
files are left as they are. A rerun reuses the scores already in ``qe.parquet`` for the same
chain and asks the engines only for cells it has not scored.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.errors import InputError
from xbench.languages import SOURCE_LANGUAGE

QE_FILE = "qe.parquet"
QE_REPORT = "qe_report.json"
QE_ENGINES = ("roundtrip", "labse", "comet-kiwi")
# engine -> (module it needs, pip command)
_EXTRAS = {
    "labse": ("sentence_transformers", "pip install sentence-transformers"),
    "comet-kiwi": ("comet", "pip install unbabel-comet"),
}
_COLUMNS = ("id", "field", "lang", "source", "translation", "back_translation", "method", "qe")


@dataclass(frozen=True)
class Cell:
    id: str
    field: str  # question or choice0..choice3
    lang: str
    source: str  # the English text
    translation: str


def check_engine(engine: str) -> None:
    """Bad input (exit 2) for an unknown engine, or one whose extra is not installed."""
    name = engine.split(":", 1)[0]
    if name not in QE_ENGINES:
        raise InputError(f"--engine {engine!r}: expected one of {', '.join(QE_ENGINES)}")
    if name in _EXTRAS:
        module, pip = _EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise InputError(f"--engine {name} needs the {module} package: {pip}")
        raise InputError(f"--engine {name}: not available in this version of xbench yet; use --engine roundtrip")


def translated_cells(rows: Iterable[Mapping[str, Any]], english: Mapping[str, Mapping[str, Any]], where: str) -> list[Cell]:
    """The translated cells of a built config's rows (``question_lang``/``choice_langs``), with their English source."""
    cells = []
    for number, row in enumerate(rows, 1):
        if "question_lang" not in row or "choice_langs" not in row:
            raise InputError(f"{where}: rows have no question_lang/choice_langs columns; qe scores multiple-choice builds (mmlu_mixup)")
        en = english.get(row["id"])
        if en is None:
            raise InputError(f"{where}: row {number} ({row['id']}): no such item in the English source; pass the --source the build used")
        langs = [row["question_lang"], *row["choice_langs"]]
        texts = [row["question"], *row["choices"]]
        sources = [en["question"], *en["choices"]]
        untranslated = set(row.get("untranslated") or [])
        names = ["question", *(f"choices[{i}]" for i in range(len(row["choices"])))]
        for i, (lang, text, source, name) in enumerate(zip(langs, texts, sources, names, strict=True)):
            if lang != SOURCE_LANGUAGE and name not in untranslated and source.strip():
                cells.append(Cell(row["id"], "question" if i == 0 else f"choice{i - 1}", lang, source, text))
    return cells


def unique_cells(cells: Iterable[Cell]) -> list[Cell]:
    """One cell per (id, field, lang), sorted: configs that show the same cell share its score."""
    return sorted({(c.id, c.field, c.lang): c for c in cells}.values(), key=lambda c: (c.lang, c.id, c.field))


def read_scores(folder: Path) -> list[dict[str, Any]]:
    path = folder / QE_FILE
    if not path.exists():
        return []
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def roundtrip_scores(cells: list[Cell], translator: Any, previous: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Rows of ``qe.parquet`` for ``cells`` and how many were scored anew (the rest reused from ``previous``)."""
    from sacrebleu.metrics import CHRF

    method = f"roundtrip:{translator.signature}"
    known = {(r["lang"], r["source"], r["translation"]): r for r in previous if r["method"] == method}
    todo = [c for c in cells if (c.lang, c.source, c.translation) not in known]
    back: dict[tuple[str, str], str] = {}
    for lang in sorted({c.lang for c in todo}):
        texts = [c.translation for c in todo if c.lang == lang]
        outcome = translator.translate_or_raise(texts, lang, SOURCE_LANGUAGE)
        back.update({(lang, t): outcome.translations[t][0] for t in texts})
    chrf = CHRF()
    rows = []
    for c in cells:
        old = known.get((c.lang, c.source, c.translation))
        if old is not None:
            text, score = old["back_translation"], old["qe"]
        else:
            text = back[(c.lang, c.translation)]
            score = round(chrf.sentence_score(text, [c.source]).score, 2)
        rows.append(
            {
                "id": c.id,
                "field": c.field,
                "lang": c.lang,
                "source": c.source,
                "translation": c.translation,
                "back_translation": text,
                "method": method,
                "qe": score,
            }
        )
    return rows, len(todo)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per language: n, mean, median, 10th percentile and the lowest score (chrF, 0-100)."""
    languages = {}
    for lang in sorted({r["lang"] for r in rows}):
        scores = sorted(r["qe"] for r in rows if r["lang"] == lang)
        p10 = scores[max(0, -(-len(scores) // 10) - 1)]
        languages[lang] = {
            "n": len(scores),
            "mean": round(statistics.fmean(scores), 2),
            "median": round(statistics.median(scores), 2),
            "p10": p10,
            "min": scores[0],
        }
    return {
        "method": rows[0]["method"] if rows else None,
        "metric": "chrF (sacrebleu sentence score) of the back-translation against the English source",
        "languages": languages,
    }


def write_qe(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``qe.parquet`` and ``qe_report.json`` (each through a temporary file); return the summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [r[name] for r in rows] for name in _COLUMNS})
    partial = folder / f".{QE_FILE}.partial"
    pq.write_table(table, partial)
    summary = summarise(rows)
    report_partial = folder / f".{QE_REPORT}.partial"
    report_partial.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(folder / QE_FILE)
    report_partial.replace(folder / QE_REPORT)
    return summary
