"""Seeded invented people for fictional_facts: names that are no common word or name, and their attributes.

Everything is drawn from ``row_rng(seed, ...)`` streams, so the same seed and counts give the
same entities. Trained and held-out entities are drawn from one stream and never share a name;
siblings pair entities within their own group, so a held-out entity's every fact is unseen.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

from xbench.formats import row_rng

VOCABULARY: dict[str, tuple[str, ...]] = {
    "colour": ("red", "blue", "green", "yellow", "purple", "orange", "black", "white"),
    "pet": ("dog", "cat", "rabbit", "parrot", "tortoise", "hamster", "horse", "goldfish"),
    "instrument": ("piano", "violin", "guitar", "flute", "cello", "trumpet", "drums", "harp"),
    "sport": ("tennis", "football", "swimming", "cycling", "rowing", "volleyball", "basketball", "skiing"),
}
YEARS = (1940, 2005)  # birth years, inclusive
TRAINED, HELDOUT = "trained", "heldout"


@dataclass(frozen=True)
class Entity:
    id: str
    group: str  # trained or heldout
    name: str
    gender: str  # m or f: picks the gendered templates
    birth_city: str
    birth_year: int
    employer: str
    colour: str
    pet: str
    instrument: str
    sport: str
    sibling: str  # another entity's id, in the same group


def _data_file(name: str) -> str:
    return (resources.files("xbench.builders.fictional_facts") / "data" / name).read_text(encoding="utf-8")


@cache
def common_words() -> frozenset[str]:
    """The shipped list of common words and names (lower case) that no invented name may equal."""
    lines = (line.strip() for line in _data_file("common_words.txt").splitlines())
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))


@cache
def syllables() -> dict[str, dict[str, list[str]]]:
    return {key: value for key, value in json.loads(_data_file("names.json")).items() if not key.startswith("_")}


def _word(rng: random.Random, kind: str) -> str:
    parts = syllables()[kind]
    middle = rng.choice(parts["middles"]) if "middles" in parts else ""
    return rng.choice(parts["onsets"]) + middle + rng.choice(parts["codas"])


def _fresh(rng: random.Random, kind: str, taken: set[str]) -> str:
    """A name of ``kind`` that is no common word and not yet used; redrawn until it is."""
    for _ in range(10_000):
        word = _word(rng, kind)
        if word.casefold() not in common_words() and word not in taken:
            taken.add(word)
            return word
    raise RuntimeError(f"fictional_facts: ran out of distinct {kind} names; the syllables in names.json are too few for this many entities")


def _person(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    gender = rng.choice(("m", "f"))
    for _ in range(10_000):
        given, family = _word(rng, "given_" + gender), _word(rng, "family")
        full = f"{given} {family}"
        if full not in taken and not ({given.casefold(), family.casefold()} & common_words()):
            taken.add(full)
            return full, gender
    raise RuntimeError("fictional_facts: ran out of distinct person names; the syllables in names.json are too few for this many entities")


def place_pool(n_entities: int, kind: str, seed: int) -> tuple[str, ...]:
    """The invented cities or employers entities draw from: a quarter as many as entities, at least 8."""
    rng, taken = row_rng(seed, kind, "pool"), set()
    return tuple(_fresh(rng, kind, taken) for _ in range(max(8, n_entities // 4)))


def make_entities(n_trained: int, n_heldout: int, seed: int) -> list[Entity]:
    """``n_trained`` trained entities, then ``n_heldout`` held-out ones, ids ``e0000``..."""
    total = n_trained + n_heldout
    cities, employers = place_pool(total, "city", seed), place_pool(total, "employer", seed)
    rng, taken = row_rng(seed, "entities", "people"), set(cities) | set(employers)
    people = [_person(rng, taken) for _ in range(total)]
    ids = [f"e{i:04d}" for i in range(total)]
    groups = [TRAINED] * n_trained + [HELDOUT] * n_heldout
    siblings = {**_siblings(ids[:n_trained], seed, TRAINED), **_siblings(ids[n_trained:], seed, HELDOUT)}
    entities = []
    for entity_id, group, (name, gender) in zip(ids, groups, people):
        draw = row_rng(seed, entity_id, "attributes")
        entities.append(
            Entity(
                id=entity_id,
                group=group,
                name=name,
                gender=gender,
                birth_city=draw.choice(cities),
                birth_year=draw.randint(*YEARS),
                employer=draw.choice(employers),
                sibling=siblings[entity_id],
                **{attr: draw.choice(values) for attr, values in VOCABULARY.items()},
            )
        )
    return entities


def _siblings(ids: list[str], seed: int, group: str) -> dict[str, str]:
    """Pairs of siblings within a group (each names the other); with an odd count the last three name each other in a ring."""
    if len(ids) < 2:
        raise ValueError(f"fictional_facts: a group of {len(ids)} entity has no sibling to pair with")
    order = list(ids)
    row_rng(seed, group, "siblings").shuffle(order)
    pairs = {}
    for a, b in zip(order[0::2], order[1::2]):
        pairs[a], pairs[b] = b, a
    if len(order) % 2:
        a, b, c = order[-3], order[-2], order[-1]
        pairs[a], pairs[b], pairs[c] = b, c, a
    return pairs
