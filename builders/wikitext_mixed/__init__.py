"""Mixed-language WikiText: every unit of a document (the document, a clause, k words) takes a
language drawn uniformly from a pool and is translated unless English.

Documents stream through in chunks, so memory stays flat whatever the corpus size; randomness
per document comes from (seed, source_index), so a document's mix does not depend on which
other documents a build includes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import datasets

from xbench.corpus import DEFAULT_SOURCE_CONFIG, HUB_SOURCE, selected_documents
from xbench.errors import InputError
from xbench.family import Family
from xbench.formats import ConfigSpec, row_rng
from xbench.languages import SOURCE_LANGUAGE, parse_languages
from xbench.paper import STUDY_CITATION
from xbench.segmentation import parse_unit, split_document
from xbench.translation import LanguageStats, Translator
from xbench.translation.translator import Outcome

CHUNK_DOCS = 500
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


def unit_languages(source_index: int, n_units: int, pool: tuple[str, ...], seed: int) -> list[str]:
    rng = row_rng(seed, str(source_index), "wikitext")
    return [rng.choice(pool) for _ in range(n_units)]


def mix_documents(
    docs: Iterable[tuple[int, str]],
    unit: str,
    pool: tuple[str, ...],
    seed: int,
    translate: Callable[[list[str], str], Outcome],
    split: str,
    all_languages: bool = False,
) -> Iterator[dict[str, Any]]:
    """Rows of mixed text, translating chunk by chunk (one request batch per language per chunk).

    ``all_languages``: instead of one mixed row, one row per pool language with every unit in it
    (the same units, so the same translations and cache entries as the mixed config).
    """
    chunk: list[tuple[int, str]] = []
    seen = False
    for item in docs:
        seen = True
        chunk.append(item)
        if len(chunk) == CHUNK_DOCS:
            yield from _mix_chunk(chunk, unit, pool, seed, translate, split, all_languages)
            chunk = []
    if chunk:
        yield from _mix_chunk(chunk, unit, pool, seed, translate, split, all_languages)
    if not seen:
        raise InputError(f"no documents in the {split} split of the source (after --subset, --sample, --max-docs)")


def _mix_chunk(chunk, unit, pool, seed, translate, split, all_languages=False) -> Iterator[dict[str, Any]]:
    planned = []
    needed: dict[str, dict[str, None]] = {}
    for source_index, doc in chunk:
        layout = split_document(doc, unit)
        if all_languages:
            versions = [(f"{split}/{source_index}/{lang}", [lang] * len(layout.units)) for lang in pool]
        else:
            versions = [(f"{split}/{source_index}", unit_languages(source_index, len(layout.units), pool, seed))]
        for row_id, langs in versions:
            for text, lang in zip(layout.units, langs):
                if lang != SOURCE_LANGUAGE:
                    needed.setdefault(lang, {})[text] = None
            planned.append((source_index, layout, langs, row_id))
    outcomes = {lang: translate(list(texts), lang) for lang, texts in needed.items()}
    for source_index, layout, langs, row_id in planned:
        pieces, spans, untranslated, engines = [layout.literals[0]], [], [], set()
        position = len(layout.literals[0])
        translated_chars = 0
        for number, (text, lang, literal) in enumerate(zip(layout.units, langs, layout.literals[1:])):
            shown, shown_lang = text, lang
            if lang != SOURCE_LANGUAGE:
                found = outcomes[lang].translations.get(text)
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
        yield {
            "text": "".join(pieces),
            "id": row_id,
            "source_index": source_index,
            "unit": unit,
            "spans": spans,
            "translated_fraction": translated_chars / total if total else 0.0,
            "translation": ",".join(sorted(engines)) or "original",
            "untranslated": untranslated,
        }


class WikitextMixed(datasets.GeneratorBasedBuilder):
    """One config (one unit) of mixed-language WikiText, translated while it is written."""

    VERSION = datasets.Version("1.0.0")

    def __init__(
        self,
        *args: Any,
        spec: ConfigSpec,
        seed: int,
        options: Mapping[str, Any],
        translator: Translator,
        report_languages: dict[str, LanguageStats],
        allow_untranslated: bool,
        splits: tuple[str, ...],
        **kwargs: Any,
    ):
        self._spec, self._seed, self._options, self._translator = spec, seed, options, translator
        self._stats, self._allow, self._splits = report_languages, allow_untranslated, splits
        super().__init__(*args, config_name=spec.name, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(features=FEATURES)

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in self._splits]

    @staticmethod
    def stream_rows(
        options: Mapping[str, Any], spec: ConfigSpec, split: str, seed: int, translate: Callable[[list[str], str], Outcome]
    ) -> Iterator[dict[str, Any]]:
        """The config's rows for ``split``; the dry run passes a planning ``translate``."""
        all_languages = spec.name == spec.unit + ALL_LANGUAGES_SUFFIX
        return mix_documents(_documents(options, split)(), spec.unit, spec.pool, seed, translate, split, all_languages)

    def _generate_examples(self, split: str):
        def translate(texts: list[str], lang: str) -> Outcome:
            stats = self._stats.setdefault(lang, LanguageStats(lang))
            return self._translator.translate_or_raise(texts, SOURCE_LANGUAGE, lang, stats=stats, allow_untranslated=self._allow)

        for row in self.stream_rows(self._options, self._spec, split, self._seed, translate):
            yield row["id"], row


def _documents(options: Mapping[str, Any], split: str) -> Callable[[], Iterator[tuple[int, str]]]:
    return selected_documents(
        split,
        source=options.get("source"),
        source_config=options.get("source_config") or DEFAULT_SOURCE_CONFIG,
        doc_unit=options.get("doc_unit") or "line",
        subset=options.get("subset"),
        sample=options.get("sample"),
        sample_seed=int(options.get("sample_seed") or 0),
        max_docs=options.get("max_docs"),
    )


def plan(options: Mapping[str, Any]) -> list[ConfigSpec]:
    """One config per ``--unit``: ``sentence``, ``words8``, ``document``; with ``--all-languages`` also ``<unit>_all``."""
    units = [u.strip() for u in (options.get("units") or "sentence").split(",") if u.strip()]
    for unit in units:
        parse_unit(unit)
    pool = tuple(parse_languages(options.get("pool") or "en,fr,de,es,it", option="--pool"))
    configs = [ConfigSpec(unit, pool=pool, unit=unit) for unit in units]
    if options.get("all_languages"):
        configs += [ConfigSpec(unit + ALL_LANGUAGES_SUFFIX, pool=pool, unit=unit) for unit in units]
    return configs


def load_source(source: str | None, splits: tuple[str, ...], options: Mapping[str, Any]) -> dict[str, list]:
    """Nothing up front: a streaming family reads its documents while writing (``selected_documents``)."""
    return {}


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
    default_translator="google",
    splits=("train", "validation", "test"),
    default_splits=("train",),
    streaming_plan=plan,
)
