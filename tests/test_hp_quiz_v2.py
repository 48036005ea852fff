"""HP-Quiz v2: row schema, the dev split, surface cues, translations and reproducible builds."""

import csv
import json
import re
from collections import Counter

import pytest

import xbench
from xbench.audit import load_rows
from xbench.builders.hp_quiz import CURATED_LANGUAGES, SOURCE_TIERS, bundled_dev, bundled_quiz, data_path
from xbench.cues import FORM_CUES, cue_hits, markdown_table, surface_baselines

QUIZ = bundled_quiz()
DEV = bundled_dev()
ATTRIBUTES = json.loads(data_path("attributes.json").read_text(encoding="utf-8"))
# Options that are the same word in every language: names, places, years, houses, maiden names.
INVARIANT = set(ATTRIBUTES["values"]["people"]) | {
    v for name in ("birth_year", "hogwarts_house", "maiden_name", "place_of_death") for v in ATTRIBUTES["values"][name]
}


def memory(lang):
    lines = data_path("memory", f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()
    return {e["source"]: e["target"] for e in map(json.loads, lines)}


def glossary(lang):
    with data_path("glossary", f"{lang}.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def translated(rows, lang):
    table = memory(lang)
    return [{**r, "question": table[r["question"]], "choices": [table[c] for c in r["choices"]]} for r in rows]


def cue_flags():
    with data_path("cue_flags.tsv").open(encoding="utf-8") as handle:
        return {(r["id"], r["lang"], r["cue"]) for r in csv.DictReader(handle, delimiter="\t")}


def test_every_row_has_a_tier_an_evidence_page_and_a_unique_id():
    rows = QUIZ + DEV
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert row["source_tier"] in SOURCE_TIERS, row["id"]
        assert row["evidence"].startswith("https://harrypotter.fandom.com/wiki/") and " " not in row["evidence"], row["id"]
    assert Counter(r["source_tier"] for r in QUIZ)["books"] >= 100  # the book-canon filter keeps a usable quiz


def test_no_species_rows_and_no_spell_type_word_left_in_a_question():
    assert not [r for r in QUIZ if r["attribute"] == "species"]
    for row in QUIZ:
        if row["category"] == "spell":
            key = row["choices"][row["answer"]]
            assert not re.search(rf"\b{re.escape(key)}\b", row["question"], re.I), row["id"]


def test_dev_split_has_five_per_category_and_never_overlaps_the_test_questions():
    assert Counter(r["category"] for r in DEV) == {"character": 5, "spell": 5}
    assert not {r["question"] for r in DEV} & {r["question"] for r in QUIZ}
    assert not {r["entity"] for r in DEV} & {r["entity"] for r in QUIZ}
    assert all(r["id"].startswith("dev/") for r in DEV)


@pytest.mark.parametrize("lang", ["en", *CURATED_LANGUAGES])
def test_no_row_where_a_surface_cue_picks_the_key_unless_flagged(lang):
    rows = QUIZ + DEV if lang == "en" else translated(QUIZ + DEV, lang)
    found = {(row_id, lang, cue) for row_id, cues in cue_hits(rows, FORM_CUES).items() for cue in cues}
    assert found <= cue_flags()


@pytest.mark.parametrize("lang", ["en", *CURATED_LANGUAGES])
def test_surface_heuristics_are_near_chance(lang):
    rows = QUIZ if lang == "en" else translated(QUIZ, lang)
    for baseline in surface_baselines(rows):
        if baseline.name in ("shared_surname", "option_in_question", "stem_in_question", "word_overlap", "longest", "shortest", "odd_form"):
            assert abs(baseline.accuracy - 0.25) < 0.07, (lang, baseline)


@pytest.mark.parametrize("lang", CURATED_LANGUAGES)
def test_translated_cells_differ_from_english(lang):
    table = memory(lang)
    same_word = {g["english"] for g in glossary(lang) if g["english"] == g[lang]}
    for row in QUIZ + DEV:
        assert table[row["question"]] != row["question"], (lang, row["id"])
        for choice in row["choices"]:
            assert table[choice] != choice or choice in INVARIANT or choice in same_word, (lang, row["id"], choice)


def _contains(cell, term):
    """Every word of the term begins a word of the cell, allowing two letters of inflection (Turnier/Turniers)."""
    words = re.findall(r"\w+(?:-\w+)*", cell.lower())
    return all(any(w.startswith(t[: max(len(t) - 2, 3)]) for w in words) for t in re.findall(r"\w+(?:-\w+)*", term.lower()))


@pytest.mark.parametrize("lang", CURATED_LANGUAGES)
def test_glossary_terms_appear_where_their_english_term_appears(lang):
    table = memory(lang)
    terms = sorted(glossary(lang), key=lambda g: -len(g["english"]))
    for row in QUIZ + DEV:
        for cell in [row["question"], *row["choices"]]:
            covered: list[tuple[int, int]] = []
            for term in terms:
                for match in re.finditer(r"(?<![\w-])" + re.escape(term["english"]) + r"(?![\w-])", cell):
                    if any(a <= match.start() and match.end() <= b for a, b in covered):
                        continue  # part of a longer glossary term (Curse in Killing Curse)
                    covered.append(match.span())
                    assert _contains(table[cell], term[lang]), (lang, term["english"], cell, table[cell])


def test_every_glossary_term_cites_its_source():
    for lang in CURATED_LANGUAGES:
        assert all(g["note"].strip() for g in glossary(lang)), lang


def test_translations_keep_the_answer_letter_and_rebuilds_are_byte_identical(tmp_path, cache_path):
    first, second = tmp_path / "a", tmp_path / "b"
    xbench.build("hp_quiz", out=first, cache=cache_path)
    xbench.build("hp_quiz", out=second, cache=tmp_path / "other.sqlite")
    files = sorted(p.relative_to(first) for p in first.rglob("*.parquet"))
    assert len(files) == 10  # five configs, dev and test
    for path in [*files, "README.md"]:
        assert (first / path).read_bytes() == (second / path).read_bytes(), path
    for split in ("dev", "test"):
        english = load_rows(first, "en", split)
        for lang in CURATED_LANGUAGES:
            rows = load_rows(first, lang, split)
            assert [r["answer"] for r in rows] == [r["answer"] for r in english]
            assert all(r["question"] != e["question"] for r, e in zip(rows, english))


def test_card_prints_the_audit_computed_from_the_built_quiz(tmp_path, cache_path):
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=cache_path, langs="fr")
    card = (out / "README.md").read_text(encoding="utf-8")
    computed = markdown_table({"v2": surface_baselines(load_rows(out, "en", "test"))})
    for line in computed.splitlines()[2:]:
        name, value = line.split(" | ")[0].strip("| "), line.split(" | ")[-1].strip(" |")
        row = next(r for r in card.splitlines() if r.startswith(f"| {name} |"))
        assert row.split(" | ")[3] == value, (name, row)
    assert "| `books` |" in card and "CC BY-SA" in card
