"""The dataset families xbench builds; each folder here is one family."""

from __future__ import annotations

from xbench.errors import InputError
from xbench.family import Family


def families() -> dict[str, Family]:
    from xbench.builders.hp_quiz import FAMILY as HP_QUIZ
    from xbench.builders.mmlu_mixup import FAMILY as MMLU
    from xbench.builders.tofu import FAMILY as TOFU
    from xbench.builders.wikitext_mixed import FAMILY as WIKITEXT

    return {family.name: family for family in (HP_QUIZ, MMLU, TOFU, WIKITEXT)}


def get_family(name: str) -> Family:
    known = families()
    if name not in known:
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(known)}")
    return known[name]
