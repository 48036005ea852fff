"""The base of every xbench dataset builder, and what a dataset family declares.

Builders are ``datasets.GeneratorBasedBuilder`` classes driven by xbench with
``download_and_prepare()``: one builder instance writes one config. A family (one folder in
``builders/``) mostly declares its source loader, its options, its extra columns and its card.

Every family is built the same way: plan the configs, then for each config stream the source
rows through in chunks, translating the cells each chunk needs (one call per language) while
the rows are written, so only one chunk's translations are ever in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar

import datasets

from xbench.formats import ConfigSpec, plan_configs
from xbench.languages import SOURCE_LANGUAGE
from xbench.translation import Outcome

# (text, language) -> (translation, engine), or None when the text stayed untranslated.
Lookup = Callable[[str, str], "tuple[str, str] | None"]
# (cell, language) -> (translation, engine): a row's own translation of one cell, by position.
CellLookup = Callable[[str, str], "tuple[str, str] | None"]
# (texts, language) -> their translations: what a build hands each config's builder.
Translate = Callable[[list[str], str], Outcome]
Row = dict[str, Any]
ORIGINAL = "original"
CHUNK_ROWS = 500  # rows translated together: one request batch per language per chunk


@dataclass(frozen=True)
class NoOptions:
    """The options of a family that takes none beyond the common build flags."""


class CellTranslator:
    """Shows cells in a language through a lookup, recording provenance and what stayed English."""

    def __init__(self, lookup: Lookup, own: CellLookup | None = None):
        self.lookup = lookup
        self.own = own
        self.untranslated: list[str] = []
        self.engines: set[str] = set()

    def show(self, text: str, lang: str, cell: str) -> str:
        if lang == SOURCE_LANGUAGE:
            return text
        found = (self.own(cell, lang) if self.own else None) or self.lookup(text, lang)
        if found is None:
            self.untranslated.append(cell)
            return text
        if found[1]:
            self.engines.add(found[1])
        return found[0]

    def provenance(self) -> dict[str, Any]:
        return {"translation": ",".join(sorted(self.engines)) or ORIGINAL, "untranslated": self.untranslated}


def mc_segments(row: Row, spec: ConfigSpec, seed: int, options: Any) -> Iterator[tuple[str, str]]:
    """(text, language) of every cell of a multiple-choice row in ``spec``."""
    question_lang, choice_langs = spec.cell_languages(row["id"], row["answer"], seed)
    yield row["question"], question_lang
    yield from zip(row["choices"], choice_langs)


def mix_row(row: Row, spec: ConfigSpec, seed: int, lookup: Lookup, options: Any, own: CellLookup | None = None) -> Row:
    """The row as shown in ``spec``: cells replaced by their translations, with provenance.

    ``own`` answers first, by cell name (``question``, ``choices[2]``), for rows that carry
    their own translations.
    """
    question_lang, choice_langs = spec.cell_languages(row["id"], row["answer"], seed)
    cells = CellTranslator(lookup, own)
    mixed = dict(row)
    mixed["question"] = cells.show(row["question"], question_lang, "question")
    mixed["choices"] = [cells.show(c, lang, f"choices[{i}]") for i, (c, lang) in enumerate(zip(row["choices"], choice_langs))]
    mixed["question_lang"] = question_lang
    mixed["choice_langs"] = choice_langs
    mixed.update(cells.provenance())
    return mixed


MIX_FEATURES = {
    "question_lang": datasets.Value("string"),
    "choice_langs": datasets.List(datasets.Value("string")),
    "translation": datasets.Value("string"),
    "untranslated": datasets.List(datasets.Value("string")),
}


class MixedBuilder(datasets.GeneratorBasedBuilder):
    """Writes one config of a family, translating the rows chunk by chunk as they are written.

    A family's builder declares its columns, which (text, language) cells a row needs in a
    config (``segments``) and how it shows a row there (``render``); multiple choice by default.
    ``versions`` turns a source row into the rows a config writes of it (one by default).
    """

    VERSION = datasets.Version("1.0.0")
    COLUMNS: ClassVar[dict[str, datasets.features.FeatureType]] = {}
    segments = staticmethod(mc_segments)
    render = staticmethod(mix_row)

    def __init__(self, *args: Any, rows: Mapping[str, Iterable[Row]], spec: ConfigSpec, seed: int, options: Any, translate: Translate, **kwargs: Any):
        self._rows, self._spec, self._seed, self._options, self._translate = rows, spec, seed, options, translate
        super().__init__(*args, config_name=spec.name, **kwargs)

    def features(self) -> dict[str, Any]:
        return {**self.COLUMNS, **MIX_FEATURES}

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(features=datasets.Features(self.features()))

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in self._rows]

    def _generate_examples(self, split: str):
        for row in self.stream(self._rows[split], self._spec, self._seed, self._options, self._translate):
            yield row["id"], row

    @staticmethod
    def versions(rows: Iterable[Row], spec: ConfigSpec) -> Iterable[Row]:
        return rows

    @classmethod
    def stream(cls, rows: Iterable[Row], spec: ConfigSpec, seed: int, options: Any, translate: Translate) -> Iterator[Row]:
        """The config's rows as shown; a dry run passes a planning ``translate``."""
        for chunk in _chunks(cls.versions(rows, spec), CHUNK_ROWS):
            needed: dict[str, dict[str, None]] = {lang: {} for lang in spec.languages}  # the config's language order
            for row in chunk:
                for text, lang in cls.segments(row, spec, seed, options):
                    if lang != SOURCE_LANGUAGE:
                        needed.setdefault(lang, {})[text] = None
            lookup = _lookup({lang: translate(list(texts), lang) for lang, texts in needed.items() if texts})
            for row in chunk:
                yield cls.render(row, spec, seed, lookup, options)


def _lookup(outcomes: dict[str, Outcome]) -> Lookup:
    def lookup(text: str, lang: str) -> tuple[str, str] | None:
        return outcomes[lang].translations.get(text) if lang in outcomes else None

    return lookup


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    stream = iter(rows)
    while chunk := list(islice(stream, size)):
        yield chunk


@dataclass(frozen=True)
class Request:
    """What a build asks of a family: parsed ``--langs``, ``--formats``, ``--mixup-pool``, the source and the family's options."""

    langs: tuple[str, ...]
    formats: tuple[str, ...]
    pool: tuple[str, ...]
    source: str | None
    options: Any


def plan_formats(family: Family, request: Request) -> list[ConfigSpec]:
    """``en``, each language's formats, ``mixup``: the configs of a multiple-choice family."""
    return plan_configs(list(request.langs), list(request.formats), request.pool, full_config_is_lang=family.full_config_is_lang)


@dataclass(frozen=True)
class Family:
    """What a dataset family declares; ``xbench build <name>`` drives it."""

    name: str
    builder: type[MixedBuilder]
    # (source, splits, options, seed) -> rows per split: lists, or re-iterable streams read while writing.
    load_source: Callable[[str | None, tuple[str, ...], Any, int], Mapping[str, Iterable[Row]]]
    card_template: str  # file name in cards/
    pretty_name: str
    license: str
    task_categories: tuple[str, ...]
    source_datasets: tuple[str, ...]
    citation: str
    # A frozen dataclass whose fields are the family's own ``xbench build`` flags (``--doc-unit`` -> doc_unit).
    options: type = NoOptions
    # What a config's rows are, for the runner: multiple_choice, generation or text (card ``xbench`` block).
    kind: str = "multiple_choice"
    default_langs: tuple[str, ...] = ("fr", "de", "es", "it")
    default_formats: tuple[str, ...] = ("all",)
    default_translator: str = "google"
    # Engines whose cache entries the memory engine takes first (human-made translations).
    memory_prefer: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("test",)
    # For families whose plain per-language config is the full translation (hp_quiz: "fr").
    full_config_is_lang: bool = False
    default_config: str = "mixup"  # falls back to "en" when not built
    # The configs a build writes.
    plan: Callable[[Family, Request], list[ConfigSpec]] = plan_formats
    # Splits built when --splits is not given (default: all of ``splits``).
    default_splits: tuple[str, ...] | None = None
    # Called with (cache, source) before translating, e.g. to import a curated memory.
    prepare_cache: Callable[[Any, str | None], None] | None = None
    # Extra ``$name`` fields of the card template, computed from the family's own data.
    card_fields: Callable[[], dict[str, str]] | None = None
    # The prompt header written natively in a language, for families that have one (card ``xbench`` block).
    header: Callable[[str], str] | None = None
    # Every language a config's cells can be in, English first (default: from its format or pool).
    cell_languages: Callable[[ConfigSpec], tuple[str, ...]] | None = None
    # A config's kind where a family's configs differ (fictional_facts: text, generation, multiple choice); default ``kind``.
    config_kind: Callable[[ConfigSpec], str] | None = None
