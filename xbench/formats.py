"""Mixed-language formats: which cells of a multiple-choice row are shown in which language.

A format is data: whether the question is translated and which options are. Configs are
``en`` (the original), ``<lang>_<format>`` for each non-English language, and ``mixup``
(question and four options take the five pool languages as a random permutation).
Randomness is seeded per row from (seed, row id, purpose), so a row's languages never
depend on processing order or on which other configs a build asked for; the purpose of a
format's draw includes the language, so languages are independent draws.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from xbench.choices import parse_choices
from xbench.errors import InputError
from xbench.languages import DEFAULT_POOL, SOURCE_LANGUAGE, get_language

N_CHOICES = 4


@dataclass(frozen=True)
class Format:
    name: str
    question: bool
    options: str  # which options are translated: none, all, gt, wrong, one_wrong
    description: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("full", True, "all", "question and all four options translated"),
        Format("question", True, "none", "question translated, options in English"),
        Format("options", False, "all", "all four options translated, question in English"),
        Format("question_gt", True, "gt", "question and the correct option translated"),
        Format("gt_option", False, "gt", "only the correct option translated"),
        Format("one_wrong", False, "one_wrong", "one randomly chosen wrong option translated"),
        Format("three_wrong", False, "wrong", "all three wrong options translated"),
    )
}
MIXUP = "mixup"
FORMAT_CHOICES = (*FORMATS, MIXUP)


def row_rng(seed: int, row_id: str, purpose: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{row_id}\x00{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class ConfigSpec:
    """One output config: ``en``, ``<lang>_<format>`` or ``mixup[_<pool>]``."""

    name: str
    lang: str = SOURCE_LANGUAGE
    format: Format | None = None
    pool: tuple[str, ...] = ()
    unit: str = ""  # mixed documents (wikitext_mixed): each unit takes a language from the pool

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages other than English this config needs translations into."""
        if self.pool:
            return tuple(code for code in self.pool if code != SOURCE_LANGUAGE)
        return () if self.lang == SOURCE_LANGUAGE else (self.lang,)

    @property
    def shown_languages(self) -> tuple[str, ...]:
        """Every language a cell of this config can be in, English first."""
        if self.pool:
            return tuple(sorted(self.pool, key=lambda code: code != SOURCE_LANGUAGE))
        if self.format is None or self.lang == SOURCE_LANGUAGE:
            return (SOURCE_LANGUAGE,)
        if self.format.question and self.format.options == "all":
            return (self.lang,)
        return (SOURCE_LANGUAGE, self.lang)

    def cell_languages(self, row_id: str, answer: int, seed: int) -> tuple[str, list[str]]:
        """(question language, [language of each option]) for one row."""
        if self.pool:
            order = list(self.pool)
            row_rng(seed, row_id, MIXUP).shuffle(order)
            return order[0], order[1:]
        if self.format is None:
            return SOURCE_LANGUAGE, [SOURCE_LANGUAGE] * N_CHOICES
        # the language is part of the draw: as in the study's translate.py, each language's
        # one_wrong config picks its wrong option independently
        translated = _translated_options(self.format.options, answer, row_rng(seed, row_id, f"{self.format.name}:{self.lang}"))
        choice_langs = [self.lang if i in translated else SOURCE_LANGUAGE for i in range(N_CHOICES)]
        return (self.lang if self.format.question else SOURCE_LANGUAGE), choice_langs

    def describe(self) -> str:
        if self.unit:
            return f"each {self.unit} unit in a language drawn uniformly from {', '.join(self.pool)}"
        if self.pool:
            return f"question and options in {', '.join(self.pool)}, one language each, shuffled per row"
        if self.format is None:
            return "the original English"
        return f"{get_language(self.lang).name}: {self.format.description}"


def _translated_options(selector: str, answer: int, rng: random.Random) -> set[int]:
    wrong = [i for i in range(N_CHOICES) if i != answer]
    if selector == "all":
        return set(range(N_CHOICES))
    if selector == "gt":
        return {answer}
    if selector == "wrong":
        return set(wrong)
    if selector == "one_wrong":
        return {rng.choice(wrong)}
    return set()


_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_config_name(name: str, origin: str = "config name") -> str:
    """A config name becomes a folder name: letters, digits, ``_ - .``, never ``..`` or a path."""
    if not isinstance(name, str) or not _CONFIG_NAME.fullmatch(name) or ".." in name:
        raise InputError(f"{origin}: {name!r} is not a valid config name (letters, digits, '_', '-', '.'; no '..' or '/')")
    return name


def mixup_config_name(pool: tuple[str, ...]) -> str:
    return MIXUP if tuple(pool) == DEFAULT_POOL else f"{MIXUP}_{'_'.join(pool)}"


def parse_formats(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    return parse_choices(spec, FORMAT_CHOICES, option="--formats", what="format")


def parse_pool(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    from xbench.languages import parse_languages

    pool = tuple(parse_languages(spec, option="--mixup-pool"))
    if len(pool) != N_CHOICES + 1:
        raise InputError(f"--mixup-pool: needs exactly {N_CHOICES + 1} distinct languages, got {len(pool)}")
    return pool


def plan_configs(langs: list[str], formats: list[str], pool: tuple[str, ...] = DEFAULT_POOL, *, full_config_is_lang: bool = False) -> list[ConfigSpec]:
    """The configs a build writes, in a stable order: en, then each language's formats, then mixup.

    With ``full_config_is_lang`` the full translation into ``fr`` is named ``fr``, not ``fr_full``.
    """
    configs = [ConfigSpec(SOURCE_LANGUAGE)]
    for lang in langs:
        if lang == SOURCE_LANGUAGE:
            continue
        for name in formats:
            if name in FORMATS:
                config_name = lang if (full_config_is_lang and name == "full") else f"{lang}_{name}"
                configs.append(ConfigSpec(config_name, lang, FORMATS[name]))
    if MIXUP in formats:
        configs.append(ConfigSpec(mixup_config_name(pool), pool=tuple(pool)))
    return configs
