"""Mixed-language WikiText: every unit of a document (the document, a clause, k words) takes a
language drawn uniformly from a pool and is translated unless English.

Documents stream through in chunks, so memory stays flat whatever the corpus size; randomness
per document comes from (seed, source_index), so a document's mix does not depend on which
other documents a build includes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import datasets
import regex

from xbench.errors import InputError
from xbench.family import Family
from xbench.formats import ConfigSpec, row_rng
from xbench.languages import SOURCE_LANGUAGE, parse_languages
from xbench.paper import STUDY_CITATION
from xbench.segmentation import parse_unit, split_document
from xbench.sources import load_hub_dataset
from xbench.translation import LanguageStats, Translator
from xbench.translation.translator import Outcome

HUB_SOURCE = "Salesforce/wikitext"
DEFAULT_SOURCE_CONFIG = "wikitext-2-raw-v1"
DOC_UNITS = ("line", "article")
CHUNK_DOCS = 500
ALL_LANGUAGES_SUFFIX = "_all"  # sentence_all: every document once in each pool language (Fig. 18's 5x reference)
_TOP_HEADING = regex.compile(r"^ = [^=].* = $")

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


# --- documents -------------------------------------------------------------------------------


def source_lines(source: str | None, source_config: str, split: str) -> Callable[[], Iterator[str]]:
    """A re-iterable stream of the split's raw lines (without their newline)."""
    if source is None:

        def hub_lines() -> Iterator[str]:
            table = load_hub_dataset(HUB_SOURCE, source_config, split, remedy="pass --source PATH")
            for record in table:
                yield record["text"].removesuffix("\n")

        return hub_lines
    path = Path(source).expanduser()
    files = _split_files(path, split) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"--source {path}: no text files (expected a text file or a folder of wiki.train.raw / .tokens / .txt files)")

    def file_lines() -> Iterator[str]:
        for file in files:
            try:
                with open(file, encoding="utf-8") as handle:
                    for line in handle:
                        yield line.removesuffix("\n")
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(f"{file}: cannot read ({type(err).__name__})") from None

    return file_lines


TEXT_SUFFIXES = (".txt", ".raw", ".tokens")  # WikiText's own files: wiki.train.raw, wiki.valid.tokens
_SPLIT_FILE_NAMES = {"train": ("train",), "validation": ("valid", "validation"), "test": ("test",)}


def _split_files(folder: Path, split: str) -> list[Path]:
    """``wiki.train.txt`` style names pick the split; a folder without split names is one split."""
    texts = sorted(f for f in folder.iterdir() if f.suffix in TEXT_SUFFIXES)
    named = {name: [f for f in texts if any(f".{key}." in f".{f.stem}." or f.stem.endswith(key) for key in keys)] for name, keys in _SPLIT_FILE_NAMES.items()}
    if not any(named.values()):
        return texts
    if not named.get(split):
        raise InputError(f"--source {folder}: no {split} file (expected a name like wiki.{_SPLIT_FILE_NAMES.get(split, (split,))[0]}.txt)")
    return named[split]


def documents(lines: Iterable[str], doc_unit: str) -> Iterator[str]:
    """``line``: every non-empty line; ``article``: lines grouped under each top-level heading."""
    if doc_unit == "line":
        yield from (line for line in lines if line.strip())
        return
    article: list[str] = []
    for line in lines:
        if _TOP_HEADING.match(line):
            if any(part.strip() for part in article):
                yield _trimmed(article)
            article = []
        article.append(line)
    if any(part.strip() for part in article):
        yield _trimmed(article)


def _trimmed(lines: list[str]) -> str:
    """The article's lines joined, without the blank lines around them."""
    start = next(i for i, line in enumerate(lines) if line.strip())
    end = max(i for i, line in enumerate(lines) if line.strip())
    return "\n".join(lines[start : end + 1])


def read_index_file(path: str | Path) -> set[int]:
    """Document indices from ``xbench retrieve`` output or the study's ``{"HP-related-index": [...]}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"--subset {path}: cannot read ({type(err).__name__})") from None
    if isinstance(data, dict) and "HP-related-index" in data:
        indices = data["HP-related-index"]
    elif isinstance(data, dict) and "documents" in data:
        indices = [d["index"] for d in data["documents"]]
    else:
        indices = data
    if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
        raise InputError(f"--subset {path}: expected a list of document indices")
    return set(indices)


def sample_indices(count: int, size: int, seed: int) -> set[int]:
    """``size`` of ``count`` document indices, uniformly, reproducibly (O(size) memory)."""
    if size >= count:
        return set(range(count))
    return set(random.Random(seed).sample(range(count), size))


def selected_documents(options: Mapping[str, Any], split: str) -> Callable[[], Iterator[tuple[int, str]]]:
    """(source_index, document) after --subset, --sample and --max-docs."""
    lines = source_lines(options.get("source"), options.get("source_config") or DEFAULT_SOURCE_CONFIG, split)
    doc_unit = options.get("doc_unit") or "line"
    if doc_unit not in DOC_UNITS:
        raise InputError(f"--doc-unit: unknown document unit {doc_unit!r}; choose line or article")
    keep = read_index_file(options["subset"]) if options.get("subset") else None
    if options.get("sample") is not None:
        size = int(options["sample"])
        if size < 1:
            raise InputError("--sample: must be at least 1")
        seed = int(options.get("sample_seed") or 0)
        if keep is None:
            keep = sample_indices(sum(1 for _ in documents(lines(), doc_unit)), size, seed)
        else:  # draw from the subset, not from the whole corpus
            members = sorted(keep)
            keep = {members[i] for i in sample_indices(len(members), size, seed)}
    limit = options.get("max_docs")
    if limit is not None and limit < 1:
        raise InputError("--max-docs: must be at least 1")

    def stream() -> Iterator[tuple[int, str]]:
        taken = 0
        for index, doc in enumerate(documents(lines(), doc_unit)):
            if keep is not None and index not in keep:
                continue
            if limit is not None and taken >= limit:
                return
            taken += 1
            yield index, doc

    return stream


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
        return mix_documents(selected_documents(options, split)(), spec.unit, spec.pool, seed, translate, split, all_languages)

    def _generate_examples(self, split: str):
        def translate(texts: list[str], lang: str) -> Outcome:
            stats = self._stats.setdefault(lang, LanguageStats(lang))
            return self._translator.translate_or_raise(texts, SOURCE_LANGUAGE, lang, stats=stats, allow_untranslated=self._allow)

        for row in self.stream_rows(self._options, self._spec, split, self._seed, translate):
            yield row["id"], row


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
    kind="text",
)
