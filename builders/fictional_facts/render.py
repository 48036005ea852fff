"""The rows of every fictional_facts config, from the entities and one language's templates.

All choices a row makes (which paraphrase, which sentence order, which distractors, which
letter is right) come from ``row_rng(seed, ...)`` keyed by entity and attribute, never by
language, so a fact's French MCQ has the same options in the same places as its English one,
and the languages can be compared item by item.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from xbench.formats import row_rng

from .entities import HELDOUT, TRAINED, VOCABULARY, YEARS, Entity
from .templates import ATTRIBUTES, LanguageTemplates, fill, pick

N_CHOICES = 4
LETTERS = "ABCD"


@dataclass(frozen=True)
class World:
    """The entities of a build and the pools distractors come from."""

    entities: tuple[Entity, ...]
    cities: tuple[str, ...]
    employers: tuple[str, ...]
    seed: int

    @property
    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}

    def group(self, group: str) -> list[Entity]:
        return [e for e in self.entities if e.group == group]


def value_forms(world: World, entity: Entity, attr: str, lt: LanguageTemplates) -> tuple[str, str]:
    """(answer form, in-text form) of an entity's attribute in ``lt``'s language."""
    return _forms(world, attr, getattr(entity, attr), lt)


def _forms(world: World, attr: str, key: Any, lt: LanguageTemplates) -> tuple[str, str]:
    if attr in VOCABULARY:
        return lt.values[attr][key]
    if attr == "sibling":
        name = world.by_id[key].name
        return name, name
    return str(key), str(key)


def _gender(world: World, entity: Entity, attr: str) -> str:
    return entity.gender + world.by_id[entity.sibling].gender if attr == "sibling" else entity.gender


def template_order(world: World, entity: Entity, attr: str, count: int) -> list[int]:
    """Which of a language's ``count`` paraphrases paraphrase p of this fact uses: a seeded permutation."""
    order = list(range(count))
    row_rng(world.seed, f"{entity.id}/{attr}", "paraphrases").shuffle(order)
    return order


def fact(world: World, entity: Entity, attr: str, paraphrase: int, lt: LanguageTemplates) -> str:
    templates = lt.facts[attr]
    template = templates[template_order(world, entity, attr, len(templates))[paraphrase]]
    return fill(pick(template, _gender(world, entity, attr)), lt.elide, name=entity.name, value=value_forms(world, entity, attr, lt)[1])


def sentence_order(world: World, entity: Entity, paraphrase: int) -> list[str]:
    """The order of the facts in biography ``paraphrase`` of an entity (the same in every language)."""
    order = list(ATTRIBUTES)
    row_rng(world.seed, f"{entity.id}/p{paraphrase}", "order").shuffle(order)
    return order


def biography(world: World, entity: Entity, paraphrase: int, lt: LanguageTemplates) -> str:
    return " ".join(fact(world, entity, attr, paraphrase, lt) for attr in sentence_order(world, entity, paraphrase) if attr in lt.facts)


def question(entity: Entity, attr: str, lt: LanguageTemplates) -> str:
    return fill(pick(lt.questions[attr], entity.gender), lt.elide, name=entity.name)


def distractors(world: World, entity: Entity, attr: str) -> list[Any]:
    """Three wrong values of the same attribute (keys, ids or years), drawn per fact."""
    right = getattr(entity, attr)
    if attr in VOCABULARY:
        pool: list[Any] = list(VOCABULARY[attr])
    elif attr == "birth_city":
        pool = list(world.cities)
    elif attr == "employer":
        pool = list(world.employers)
    elif attr == "birth_year":
        pool = list(range(YEARS[0], YEARS[1] + 1))
    else:  # sibling: other people of the same group, never the entity itself
        pool = [e.id for e in world.group(entity.group) if e.id != entity.id]
    return row_rng(world.seed, f"{entity.id}/{attr}", "distractors").sample([v for v in pool if v != right], N_CHOICES - 1)


def answer_positions(world: World, group: str) -> dict[tuple[str, str], int]:
    """The right option's index for every (entity, attribute) of a group: each letter equally often (within one), seeded."""
    facts = [(e.id, attr) for e in world.group(group) for attr in ATTRIBUTES]
    letters = [i % N_CHOICES for i in range(len(facts))]
    row_rng(world.seed, group, "letters").shuffle(letters)
    return dict(zip(facts, letters))


def mcq_rows(world: World, group: str, lt: LanguageTemplates) -> Iterator[dict[str, Any]]:
    positions = answer_positions(world, group)
    for entity in world.group(group):
        for attr in lt.attributes:
            wrong = [_forms(world, attr, key, lt)[0] for key in distractors(world, entity, attr)]
            right = positions[(entity.id, attr)]
            choices = wrong[:right] + [value_forms(world, entity, attr, lt)[0]] + wrong[right:]
            yield {
                "id": f"{entity.id}/{attr}",
                "entity": entity.id,
                "attribute": attr,
                "subject": attr,
                "question": question(entity, attr, lt),
                "choices": choices,
                "answer": right,
                "language": lt.language,
            }


def qa_rows(world: World, group: str, lt: LanguageTemplates) -> Iterator[dict[str, Any]]:
    for entity in world.group(group):
        for attr in lt.attributes:
            yield {
                "id": f"{entity.id}/{attr}",
                "entity": entity.id,
                "attribute": attr,
                "question": question(entity, attr, lt),
                "answer": value_forms(world, entity, attr, lt)[0],
                "language": lt.language,
            }


def bio_rows(world: World, paraphrases: int, lt: LanguageTemplates) -> Iterator[dict[str, Any]]:
    for entity in world.group(TRAINED):
        for p in range(paraphrases):
            yield {"id": f"{entity.id}/p{p}", "entity": entity.id, "paraphrase": p, "text": biography(world, entity, p, lt), "language": lt.language}


def mixed_rows(world: World, paraphrases: int, unit: str, pool: dict[str, LanguageTemplates]) -> Iterator[dict[str, Any]]:
    """Biographies with each sentence (``sentence``) or each document (``document``) in a pool language drawn per row."""
    codes = list(pool)
    for entity in world.group(TRAINED):
        for p in range(paraphrases):
            row_id = f"{entity.id}/p{p}"
            rng = row_rng(world.seed, row_id, f"mixed:{unit}")
            whole = rng.choice(codes)
            sentences, langs = [], []
            for attr in sentence_order(world, entity, p):
                having = [c for c in codes if attr in pool[c].facts]
                lang = (rng.choice(having) if having else None) if unit == "sentence" else whole
                if lang is None or attr not in pool[lang].facts:
                    continue
                sentences.append(fact(world, entity, attr, p, pool[lang]))
                langs.append(lang)
            yield {"id": row_id, "entity": entity.id, "paraphrase": p, "text": " ".join(sentences), "unit": unit, "languages": langs}


__all__ = ["HELDOUT", "LETTERS", "TRAINED", "World", "bio_rows", "biography", "mcq_rows", "mixed_rows", "qa_rows"]
