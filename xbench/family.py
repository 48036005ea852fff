"""The base of every xbench dataset builder, and what a dataset family declares.

Builders are ``datasets.GeneratorBasedBuilder`` classes driven by xbench with
``download_and_prepare()``: one builder instance writes one config. A family (one folder in
``builders/``) mostly declares its source loader, its extra columns and its card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import datasets

from xbench.formats import ConfigSpec
from xbench.languages import SOURCE_LANGUAGE

# (text, language) -> (translation, engine), or None when the text stayed untranslated.
Lookup = Callable[[str, str], "tuple[str, str] | None"]
# (cell, language) -> (translation, engine): a row's own translation of one cell, by position.
CellLookup = Callable[[str, str], "tuple[str, str] | None"]
Row = dict[str, Any]
ORIGINAL = "original"


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


def mc_segments(row: Row, spec: ConfigSpec, seed: int, options: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(text, language) of every cell of a multiple-choice row in ``spec``."""
    question_lang, choice_langs = spec.cell_languages(row["id"], row["answer"], seed)
    yield row["question"], question_lang
    yield from zip(row["choices"], choice_langs)


def mix_row(row: Row, spec: ConfigSpec, seed: int, lookup: Lookup, options: Mapping[str, Any], own: CellLookup | None = None) -> Row:
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
    """Writes one config of a family from rows already loaded by xbench.

    A family's builder declares its columns, which (text, language) cells a row needs in a
    config (``segments``) and how it shows a row there (``render``); multiple choice by default.
    """

    VERSION = datasets.Version("1.0.0")
    COLUMNS: ClassVar[dict[str, datasets.features.FeatureType]] = {}
    segments = staticmethod(mc_segments)
    render = staticmethod(mix_row)

    def __init__(self, *args: Any, rows: Mapping[str, list[Row]], spec: ConfigSpec, seed: int, lookup: Lookup, options: Mapping[str, Any], **kwargs: Any):
        self._rows, self._spec, self._seed, self._lookup, self._options = rows, spec, seed, lookup, options
        super().__init__(*args, config_name=spec.name, **kwargs)

    def features(self) -> dict[str, Any]:
        return {**self.COLUMNS, **MIX_FEATURES}

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(features=datasets.Features(self.features()))

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in self._rows]

    def _generate_examples(self, split: str):
        for row in self._rows[split]:
            yield row["id"], self.render(row, self._spec, self._seed, self._lookup, self._options)


@dataclass(frozen=True)
class Family:
    """What a dataset family declares; ``xbench build <name>`` drives it."""

    name: str
    builder: type[MixedBuilder]
    load_source: Callable[[str | None, tuple[str, ...], Mapping[str, Any]], dict[str, list[Row]]]
    card_template: str  # file name in cards/
    pretty_name: str
    license: str
    task_categories: tuple[str, ...]
    source_datasets: tuple[str, ...]
    citation: str
    default_langs: tuple[str, ...] = ("fr", "de", "es", "it")
    default_formats: tuple[str, ...] = ("all",)
    default_translator: str = "google"
    splits: tuple[str, ...] = ("test",)
    # For families whose plain per-language config is the full translation (hp_quiz: "fr").
    full_config_is_lang: bool = False
    default_config: str = "mixup"  # falls back to "en" when not built
    # Names the configs: (spec planned by formats.plan_configs, options) -> config name.
    config_name: Callable[[ConfigSpec, Mapping[str, Any]], str] | None = None
    # Splits built when --splits is not given (default: all of ``splits``).
    default_splits: tuple[str, ...] | None = None
    # Streaming families (wikitext_mixed) plan their own configs and translate while writing.
    streaming_plan: Callable[[Mapping[str, Any]], list[ConfigSpec]] | None = None
    # Called with (cache, source) before translating, e.g. to import a curated memory.
    prepare_cache: Callable[[Any, str | None], None] | None = None
    # Extra ``$name`` fields of the card template, computed from the family's own data.
    card_fields: Callable[[], dict[str, str]] | None = None
    kind: str = "multiple_choice"  # what the runner scores: multiple_choice, generation or text
    prompt_header: Callable[[str], str] | None = None  # a language's header sentence, for families that have one per language
