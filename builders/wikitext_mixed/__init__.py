"""Mixed-language WikiText: every unit of a document (the document, a clause, k words) takes a
language drawn uniformly from a pool and is translated unless English.

Documents stream through in chunks (as every family's rows do), so memory stays flat whatever the corpus size; randomness
per document comes from (seed, source_index), so a document's mix does not depend on which
other documents a build includes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import datasets

from xbench.choices import parse_choices
from xbench.corpus import DEFAULT_SOURCE_CONFIG, HUB_SOURCE, selected_documents
from xbench.errors import InputError
from xbench.family import Family, Lookup, MixedBuilder, Request
from xbench.formats import ConfigSpec, row_rng
from xbench.languages import DEFAULT_POOL, SOURCE_LANGUAGE, parse_languages
from xbench.paper import STUDY_CITATION
from xbench.segmentation import SegmentLayout, parse_unit, split_document

ALL_LANGUAGES_SUFFIX = "_all"  # sentence_all: every document once in each pool language (Fig. 18's 5x reference)

CITATION = (
    STUDY_CITATION
    + """
@misc{merity2016pointer,
  title={Pointer Sentinel Mixture Models},
  author={Stephen Merity and Caiming Xiong and James Bradbury and Richard Socher},
  year={2016},
  eprint={1609.07843},
  archivePrefix={arXiv}
}"""
)

FEATURES = datasets.Features(
    {
        "text": datasets.Value("string"),
        "id": datasets.Value("string"),
        "source_index": datasets.Value("int64"),
        "unit": datasets.Value("string"),
        "spans": datasets.List({"start": datasets.Value("int32"), "end": datasets.Value("int32"), "lang": datasets.Value("string")}),
        "translated_fraction": datasets.Value("float64"),
        "translation": datasets.Value("string"),
        "untranslated": datasets.List(datasets.Value("int32")),
    }
)


# --- mixing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WikitextOptions:
    source_config: str = DEFAULT_SOURCE_CONFIG  # the Hub config read when --source is not given
    unit: str = "sentence"  # document, sentence or words<k>; comma-separated for several configs
    doc_unit: str = "line"  # line or article
    pool: str = ",".join(DEFAULT_POOL)
    max_docs: int | None = None
    sample: int | None = None  # drawn with the build's seed
    subset: str | None = None  # an index file: xbench retrieve output or the study's HP index
    all_languages: bool = False


class SplitDocuments:
    """A split's documents as rows ``{id, source_index, document}``, read from the source on every pass."""

    def __init__(self, source: str | None, options: WikitextOptions, split: str, seed: int):
        self._documents = selected_documents(
            split,
            source=source,
            source_config=options.source_config,
            doc_unit=options.doc_unit,
            subset=options.subset,
            sample=options.sample,
            sample_seed=seed,
            max_docs=options.max_docs,
        )
        self._split = split

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen = False
        for index, doc in self._documents():
            seen = True
            yield {"id": f"{self._split}/{index}", "source_index": index, "document": doc}
        if not seen:
            raise InputError(f"no documents in the {self._split} split of the source (after --subset, --sample, --max-docs)")


def unit_languages(source_index: int, n_units: int, pool: tuple[str, ...], seed: int) -> list[str]:
    rng = row_rng(seed, str(source_index), "wikitext")
    return [rng.choice(pool) for _ in range(n_units)]


def _mixed_units(row: dict[str, Any], spec: ConfigSpec, seed: int) -> tuple[SegmentLayout, list[str]]:
    """The document's units and the language each is shown in (one language for an ``<unit>_all`` row)."""
    layout = split_document(row["document"], spec.unit)
    if "all_in" in row:
        return layout, [row["all_in"]] * len(layout.units)
    return layout, unit_languages(row["source_index"], len(layout.units), spec.pool, seed)


def mixed_segments(row: dict[str, Any], spec: ConfigSpec, seed: int, options: WikitextOptions) -> Iterator[tuple[str, str]]:
    layout, langs = _mixed_units(row, spec, seed)
    return zip(layout.units, langs)


def mixed_row(row: dict[str, Any], spec: ConfigSpec, seed: int, lookup: Lookup, options: WikitextOptions) -> dict[str, Any]:
    """The document with each unit in its language, and where each language's text is (``spans``)."""
    layout, langs = _mixed_units(row, spec, seed)
    pieces, spans, untranslated, engines = [layout.literals[0]], [], [], set()
    position = len(layout.literals[0])
    translated_chars = 0
    for number, (text, lang, literal) in enumerate(zip(layout.units, langs, layout.literals[1:])):
        shown, shown_lang = text, lang
        if lang != SOURCE_LANGUAGE:
            found = lookup(text, lang)
            if found is None:
                shown_lang = SOURCE_LANGUAGE
                untranslated.append(number)
            else:
                shown = found[0]
                translated_chars += len(text)
                if found[1]:
                    engines.add(found[1])
        spans.append({"start": position, "end": position + len(shown), "lang": shown_lang})
        pieces += [shown, literal]
        position += len(shown) + len(literal)
    total = sum(len(u) for u in layout.units)
    return {
        "text": "".join(pieces),
        "id": row["id"],
        "source_index": row["source_index"],
        "unit": spec.unit,
        "spans": spans,
        "translated_fraction": translated_chars / total if total else 0.0,
        "translation": ",".join(sorted(engines)) or "original",
        "untranslated": untranslated,
    }


class WikitextMixed(MixedBuilder):
    """One config (one unit) of mixed-language WikiText."""

    segments = staticmethod(mixed_segments)
    render = staticmethod(mixed_row)

    def features(self) -> dict[str, Any]:
        return dict(FEATURES)

    @staticmethod
    def versions(rows: Iterable[dict[str, Any]], spec: ConfigSpec) -> Iterator[dict[str, Any]]:
        """``<unit>_all``: every document once in each pool language, in pool order."""
        if spec.name != spec.unit + ALL_LANGUAGES_SUFFIX:
            yield from rows
            return
        for row in rows:
            for lang in spec.pool:
                yield {**row, "id": f"{row['id']}/{lang}", "all_in": lang}


def plan(family: Family, request: Request) -> list[ConfigSpec]:
    """One config per ``--unit``: ``sentence``, ``words8``, ``document``; with ``--all-languages`` also ``<unit>_all``."""
    options = request.options
    units = parse_choices(options.unit, parse_unit, option="--unit", what="unit")
    pool = tuple(parse_languages(options.pool, option="--pool"))
    configs = [ConfigSpec(unit, pool=pool, unit=unit) for unit in units]
    if options.all_languages:
        configs += [ConfigSpec(unit + ALL_LANGUAGES_SUFFIX, pool=pool, unit=unit) for unit in units]
    return configs


def load_source(source: str | None, splits: tuple[str, ...], options: WikitextOptions, seed: int) -> dict[str, SplitDocuments]:
    """Each split's documents, streamed while the configs are written."""
    return {split: SplitDocuments(source, options, split, seed) for split in splits}


FAMILY = Family(
    name="wikitext_mixed",
    builder=WikitextMixed,
    load_source=load_source,
    card_template="wikitext_mixed.md",
    pretty_name="Mixed-language WikiText (xbench)",
    license="cc-by-sa-3.0",
    task_categories=("text-generation",),
    source_datasets=(HUB_SOURCE,),
    citation=CITATION,
    options=WikitextOptions,
    kind="text",
    default_translator="google",
    splits=("train", "validation", "test"),
    default_splits=("train",),
    plan=plan,
)
