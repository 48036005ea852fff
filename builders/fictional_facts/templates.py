"""The per-language templates and vocabularies of fictional_facts, read from ``data/languages/<lang>.json``.

A language file holds, for every attribute, several natively written fact sentences (the
paraphrases), one question, and the closed vocabularies' words. A template that is an object
is chosen by grammatical gender: ``m``/``f`` for the entity's, and for ``sibling`` two letters,
the entity's gender then the sibling's. An attribute a language cannot phrase cleanly is listed
under ``omitted`` with the reason, and has no facts or question there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from xbench.errors import InputError

INVENTED = ("birth_city", "employer")
CLOSED = ("colour", "pet", "instrument", "sport")
ATTRIBUTES = ("birth_city", "birth_year", "employer", "colour", "pet", "instrument", "sport", "sibling")
FACT_FIELDS = frozenset({"name", "value"})
QUESTION_FIELDS = frozenset({"name"})
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
GENDERS = ("m", "f")
PAIR_GENDERS = tuple(a + b for a in GENDERS for b in GENDERS)

Template = str | dict[str, str]


@dataclass(frozen=True)
class LanguageTemplates:
    """One language's templates: facts[attr] (paraphrases), questions[attr], values[attr][key] = (answer form, in-text form)."""

    language: str
    path: str
    facts: dict[str, tuple[Template, ...]]
    questions: dict[str, Template]
    values: dict[str, dict[str, tuple[str, str]]]
    omitted: dict[str, str]
    elide: tuple[str, ...] = ()  # words written with an apostrophe before a vowel (French de -> d')

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(a for a in ATTRIBUTES if a not in self.omitted)


def bundled_languages() -> tuple[str, ...]:
    folder = resources.files("xbench.builders.fictional_facts") / "data" / "languages"
    return tuple(sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")))


def template_file(lang: str, folder: str | None) -> Path:
    if folder is not None:
        return Path(folder) / f"{lang}.json"
    return Path(str(resources.files("xbench.builders.fictional_facts") / "data" / "languages" / f"{lang}.json"))


def load_language(lang: str, folder: str | None = None) -> LanguageTemplates:
    """The checked templates of ``lang`` (bundled, or ``folder/<lang>.json`` with ``--templates``)."""
    path = template_file(lang, folder)
    if not path.is_file():
        have = ", ".join(bundled_languages()) if folder is None else f"the .json files in {folder}"
        raise InputError(f"--langs: no fictional_facts templates for {lang!r} ({path}); languages with templates: {have}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    return _checked(lang, str(path), data)


def _checked(lang: str, path: str, data: Any) -> LanguageTemplates:
    if not isinstance(data, dict) or data.get("language") != lang:
        raise InputError(f'{path}: expected an object with "language": "{lang}"')
    omitted = data.get("omitted") or {}
    unknown = [a for a in omitted if a not in ATTRIBUTES]
    if unknown:
        raise InputError(f"{path}: omitted: unknown attribute {unknown[0]!r}; attributes are {', '.join(ATTRIBUTES)}")
    facts, questions = data.get("facts") or {}, data.get("questions") or {}
    for attr in (a for a in ATTRIBUTES if a not in omitted):
        paraphrases = facts.get(attr)
        if not isinstance(paraphrases, list) or not paraphrases:
            raise InputError(f'{path}: attribute {attr!r} has no fact templates (list it under "omitted" with a reason to leave it out)')
        for number, template in enumerate(paraphrases):
            _check_template(template, PAIR_GENDERS if attr == "sibling" else GENDERS, FACT_FIELDS, f"{path}: facts.{attr}[{number}]")
        if attr not in questions:
            raise InputError(f"{path}: attribute {attr!r} has no question template")
        _check_template(questions[attr], GENDERS, QUESTION_FIELDS, f"{path}: questions.{attr}")
    values = _checked_values(path, data.get("values") or {}, omitted)
    return LanguageTemplates(
        language=lang,
        path=path,
        facts={a: tuple(facts[a]) for a in ATTRIBUTES if a not in omitted},
        questions={a: questions[a] for a in ATTRIBUTES if a not in omitted},
        values=values,
        omitted=dict(omitted),
        elide=tuple(data.get("elide") or ()),
    )


def _check_template(template: Any, keys: tuple[str, ...], fields: frozenset[str], where: str) -> None:
    if isinstance(template, dict):
        if set(template) != set(keys):
            raise InputError(f"{where}: a gendered template needs exactly the keys {', '.join(keys)}")
        variants = list(template.values())
    else:
        variants = [template]
    for text in variants:
        if not isinstance(text, str):
            raise InputError(f"{where}: expected text")
        found = set(PLACEHOLDER.findall(text))
        if found != fields:
            raise InputError(f"{where}: uses {{{'}, {'.join(sorted(found)) or ''}}}; it must use exactly {{{'}, {'.join(sorted(fields))}}}")


def _checked_values(path: str, values: dict[str, Any], omitted: dict[str, str]) -> dict[str, dict[str, tuple[str, str]]]:
    from .entities import VOCABULARY

    checked: dict[str, dict[str, tuple[str, str]]] = {}
    for attr in (a for a in CLOSED if a not in omitted):
        given = values.get(attr) or {}
        missing = [key for key in VOCABULARY[attr] if key not in given]
        if missing:
            raise InputError(f"{path}: values.{attr}: no word for {missing[0]!r}")
        for key in VOCABULARY[attr]:
            pair = given[key]
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair)):
                raise InputError(f"{path}: values.{attr}.{key}: expected [answer form, in-text form]")
        checked[attr] = {key: (given[key][0], given[key][1]) for key in VOCABULARY[attr]}
    return checked


def pick(template: Template, gender: str) -> str:
    """The variant of ``template`` for ``gender`` (``m``, ``f``, or two letters for sibling facts)."""
    return template if isinstance(template, str) else template[gender]


VOWELS = frozenset("AEIOUYÀÂÉÈÊÎÔÛaeiouyàâéèêîôû")


def fill(text: str, elide: tuple[str, ...] = (), **fields: str) -> str:
    """``text`` with its placeholders replaced, literally (a value's braces are never re-read).

    A word of ``elide`` right before a placeholder whose value starts with a vowel loses its
    last letter for an apostrophe: ``de {name}`` with Orina gives ``d'Orina``.
    """
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        before, value = text[last : match.start()], fields[match.group(1)]
        if value[:1] in VOWELS:
            for word in elide:
                if re.search(rf"(?:^|\s)({re.escape(word)}) $", before, flags=re.IGNORECASE):
                    before = before[:-2] + "'"
                    break
        pieces += [before, value]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)
