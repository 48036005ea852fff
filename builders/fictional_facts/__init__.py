"""Fictional facts: seeded invented people written natively in every language from templates.

Knowledge a model can only have from fine-tuning on these biographies, asked in every
language with no machine translation anywhere (the controlled setting of the study's § 3.2,
TOFU, without TOFU's MT noise). Trained entities give ``<lang>_bio`` (the training text) and
the ``test`` split of ``<lang>_qa`` and ``<lang>_mcq``; held-out entities, never in any
biography, give their ``heldout`` split: the chance-level control.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import datasets

from xbench.choices import parse_choices
from xbench.errors import InputError
from xbench.family import Family, MixedBuilder, Request
from xbench.formats import ConfigSpec
from xbench.languages import DEFAULT_POOL, SOURCE_LANGUAGE, get_language, parse_languages
from xbench.paper import STUDY_CITATION

from .entities import HELDOUT, TRAINED, make_entities, place_pool
from .render import World, bio_rows, mcq_rows, mixed_rows, qa_rows
from .templates import ATTRIBUTES, LanguageTemplates, bundled_languages, load_language

BIO, QA, MCQ, MIXED = "bio", "qa", "mcq", "mixed_bio"
UNITS = ("sentence", "document")
TRAIN, TEST = "train", "test"
SPLITS_OF = {BIO: (TRAIN,), MIXED: (TRAIN,), QA: (TEST, HELDOUT), MCQ: (TEST, HELDOUT)}
KIND_OF = {BIO: "text", MIXED: "text", QA: "generation", MCQ: "multiple_choice"}
MIN_GROUP = 5  # a sibling question needs three other people of the entity's group as distractors

CITATION = (
    STUDY_CITATION
    + """
@article{allenzhu2023physics31,
  title={Physics of Language Models: Part 3.1, Knowledge Storage and Extraction},
  author={Zeyuan Allen-Zhu and Yuanzhi Li},
  journal={arXiv preprint arXiv:2309.14316},
  year={2023}
}"""
)

_STRING = datasets.Value("string")
FEATURES = {
    BIO: {"id": _STRING, "entity": _STRING, "paraphrase": datasets.Value("int32"), "text": _STRING, "language": _STRING},
    MIXED: {
        "id": _STRING,
        "entity": _STRING,
        "paraphrase": datasets.Value("int32"),
        "text": _STRING,
        "unit": _STRING,
        "languages": datasets.List(_STRING),
    },
    QA: {"id": _STRING, "entity": _STRING, "attribute": _STRING, "question": _STRING, "answer": _STRING, "language": _STRING},
    MCQ: {
        "id": _STRING,
        "entity": _STRING,
        "attribute": _STRING,
        "subject": _STRING,
        "question": _STRING,
        "choices": datasets.List(_STRING),
        "answer": datasets.Value("int64"),
        "language": _STRING,
    },
}


@dataclass(frozen=True)
class FictionalOptions:
    entities: int = 200  # trained entities (their biographies are the training text)
    heldout: int | None = None  # held-out entities, never trained on (default: a quarter of --entities, at least 20)
    paraphrases: int = 5  # biographies per entity, each with other sentence templates and order
    unit: str = ",".join(UNITS)  # mixed_bio_<unit> configs: sentence, document
    pool: str = ",".join(DEFAULT_POOL)  # languages of the mixed_bio configs
    templates: str | None = None  # a folder of <lang>.json templates instead of the bundled ones


def heldout_count(options: FictionalOptions) -> int:
    return options.heldout if options.heldout is not None else max(20, options.entities // 4)


def check_options(options: FictionalOptions) -> None:
    if options.entities < MIN_GROUP:
        raise InputError(f"--entities: {options.entities}; at least {MIN_GROUP} (a sibling question needs three other people as distractors)")
    if heldout_count(options) < MIN_GROUP:
        raise InputError(f"--heldout: {heldout_count(options)}; at least {MIN_GROUP}")
    if options.paraphrases < 1:
        raise InputError(f"--paraphrases: {options.paraphrases}; at least 1")


@cache
def world(seed: int, entities: int, heldout: int) -> World:
    total = entities + heldout
    return World(tuple(make_entities(entities, heldout, seed)), place_pool(total, "city", seed), place_pool(total, "employer", seed), seed)


def _world(seed: int, options: FictionalOptions) -> World:
    return world(seed, options.entities, heldout_count(options))


def templates_for(langs: tuple[str, ...], options: FictionalOptions) -> dict[str, LanguageTemplates]:
    """Each language's checked templates; --paraphrases may not exceed any attribute's template count."""
    loaded = {lang: load_language(lang, options.templates) for lang in langs}
    for lt in loaded.values():
        for attr, templates in lt.facts.items():
            if len(templates) < options.paraphrases:
                raise InputError(f"--paraphrases: {options.paraphrases}, but {lt.path} has {len(templates)} templates for {attr!r}; at most {len(templates)}")
    return loaded


DESCRIPTIONS = {
    BIO: "{lang}: biographies of the trained entities (training text)",
    QA: "{lang}: questions with their answers (generation)",
    MCQ: "{lang}: four-option questions (multiple choice)",
    MIXED: "biographies with each {unit} in a language drawn from {pool}",
}


@dataclass(frozen=True)
class FactsSpec(ConfigSpec):
    """A fictional_facts config: described by what it holds (no format, nothing translated)."""

    def describe(self) -> str:
        return DESCRIPTIONS[config_role(self)].format(lang=get_language(self.lang).name, unit=self.unit, pool=", ".join(self.pool))


def config_role(spec: ConfigSpec) -> str:
    if spec.name.startswith(MIXED + "_"):
        return MIXED
    return spec.name.rsplit("_", 1)[1]


class FictionalFacts(MixedBuilder):
    """One config of fictional_facts; entity rows in, the config's rows out (nothing is translated)."""

    def features(self) -> dict[str, Any]:
        return dict(FEATURES[config_role(self._spec)])

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        wanted = SPLITS_OF[config_role(self._spec)]
        splits = [split for split in self._rows if split in wanted]
        if not splits:
            raise InputError(f"--splits: config {self._spec.name} has the split(s) {', '.join(wanted)}; none was asked for")
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in splits]

    @classmethod
    def stream(cls, rows: Any, spec: ConfigSpec, seed: int, options: FictionalOptions, translate: Any) -> Iterator[dict[str, Any]]:
        split = rows.split
        role = config_role(spec)
        if split not in SPLITS_OF[role]:
            return
        built = _world(seed, options)
        if role == MIXED:
            yield from mixed_rows(built, options.paraphrases, spec.unit, templates_for(spec.pool, options))
            return
        lt = templates_for((spec.lang,), options)[spec.lang]
        if role == BIO:
            yield from bio_rows(built, options.paraphrases, lt)
        else:
            group = TRAINED if split == TEST else HELDOUT
            yield from (qa_rows if role == QA else mcq_rows)(built, group, lt)


@dataclass(frozen=True)
class SplitEntities:
    """A split's source: the split's name (what it holds is decided per config) and its entity count."""

    split: str
    count: int

    def __len__(self) -> int:
        return self.count


def load_source(source: str | None, splits: tuple[str, ...], options: FictionalOptions, seed: int) -> Mapping[str, SplitEntities]:
    if source is not None:
        raise InputError("--source: fictional_facts is generated from its templates and takes no source")
    check_options(options)
    counts = {TRAIN: options.entities, TEST: options.entities, HELDOUT: heldout_count(options)}
    return {split: SplitEntities(split, counts[split]) for split in splits}


def plan(family: Family, request: Request) -> list[ConfigSpec]:
    """``<lang>_bio``, ``<lang>_qa``, ``<lang>_mcq`` for English and each of --langs, then ``mixed_bio_<unit>`` per --unit."""
    options: FictionalOptions = request.options
    check_options(options)
    langs = tuple(dict.fromkeys((SOURCE_LANGUAGE, *request.langs)))
    units = parse_choices(options.unit, UNITS, option="--unit", what="unit")
    pool = tuple(parse_languages(options.pool, option="--pool"))
    templates_for(tuple(dict.fromkeys(langs + pool)), options)  # bad templates stop the build before anything is written
    configs: list[ConfigSpec] = [FactsSpec(f"{lang}_{role}", lang=lang) for lang in langs for role in (BIO, QA, MCQ)]
    return configs + [FactsSpec(f"{MIXED}_{unit}", pool=pool, unit=unit) for unit in units]


def config_kind(spec: ConfigSpec) -> str:
    return KIND_OF[config_role(spec)]


def cell_languages(spec: ConfigSpec) -> tuple[str, ...]:
    return spec.shown_languages if spec.pool else (spec.lang,)


def card_fields() -> dict[str, str]:
    """The card's table of attributes and the attributes each bundled language leaves out."""
    omitted = []
    for lang in bundled_languages():
        lt = load_language(lang)
        omitted += [f"- `{lang}`: no `{attr}` ({why})" for attr, why in lt.omitted.items()]
    return {
        "attributes": ", ".join(f"`{a}`" for a in ATTRIBUTES),
        "bundled_languages": ", ".join(f"`{lang}`" for lang in bundled_languages()),
        "omitted": "\n".join(omitted) or "Every bundled language phrases every attribute; none is left out.",
    }


FAMILY = Family(
    name="fictional_facts",
    builder=FictionalFacts,
    load_source=load_source,
    card_template="fictional_facts.md",
    pretty_name="Fictional facts (xbench)",
    license="cc-by-4.0",
    task_categories=("question-answering", "multiple-choice", "text-generation"),
    source_datasets=("original",),
    citation=CITATION,
    options=FictionalOptions,
    kind="multiple_choice",
    default_langs=("fr", "de", "es", "it"),
    default_formats=("full",),
    default_translator="memory",
    splits=(TRAIN, TEST, HELDOUT),
    default_config="en_mcq",
    plan=plan,
    card_fields=card_fields,
    cell_languages=cell_languages,
    config_kind=config_kind,
)
