"""The dataset families xbench builds; each folder here is one family."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from xbench.errors import InputError
from xbench.family import Family


def families() -> dict[str, Family]:
    from xbench.builders.fictional_facts import FAMILY as FICTIONAL_FACTS
    from xbench.builders.hp_quiz import FAMILY as HP_QUIZ
    from xbench.builders.mmlu_mixup import FAMILY as MMLU
    from xbench.builders.tofu import FAMILY as TOFU
    from xbench.builders.wikitext_mixed import FAMILY as WIKITEXT

    return {family.name: family for family in (HP_QUIZ, MMLU, TOFU, WIKITEXT, FICTIONAL_FACTS)}


def get_family(name: str) -> Family:
    known = families()
    if name not in known:
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(known)}")
    return known[name]


def family_options(family: Family, given: Mapping[str, Any] | Any | None) -> Any:
    """The family's options dataclass from flag values (a value of None is a flag not given).

    A flag the family does not declare is refused, naming the families that take it.
    """
    if is_dataclass(given) and not isinstance(given, type):
        if not isinstance(given, family.options):
            raise InputError(f"options: {family.name} takes {family.options.__name__}, not {type(given).__name__}")
        return given
    values = {key: value for key, value in (given or {}).items() if value is not None}
    types = get_type_hints(family.options)
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if key not in types:
            takers = [other.name for other in families().values() if key in {f.name for f in fields(other.options)}]
            where = f"it is for {', '.join(takers)}" if takers else "no family takes it"
            raise InputError(f"{flag}: {family.name} does not take this option ({where})")
        values[key] = _checked(flag, value, types[key])
    return family.options(**values)


def _checked(flag: str, value: Any, hint: Any) -> Any:
    """``value`` as the field's type (``int``, ``str | None``...) wants it; a path is taken for a text field."""
    parts = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    allowed = tuple(part for part in parts if part is not NoneType)
    if str in allowed and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise InputError(f"{flag}: expected {' or '.join(t.__name__ for t in allowed)}, got {value!r}")
    return value
