"""HP-Quiz: mechanical checks of the bundled quiz and its curated translations, and the build."""

import csv
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from datasets import get_dataset_config_names, load_dataset
from helpers import write_jsonl

import xbench
from xbench.builders.hp_quiz import CURATED_LANGUAGES, bundled_quiz, data_path, instruction_header
from xbench.languages import LANGUAGES

CHARACTERS = [
    "Aberforth Dumbledore",
    "Albus Potter",
    "Ariana Dumbledore",
    "Arthur Weasley",
    "Astoria Malfoy",
    "Cedric Diggory",
    "Charles Weasley",
    "Cho Chang",
    "Draco Malfoy",
    "Dudley Dursley",
    "Euphemia Potter",
    "Fleamont Potter",
    "Harry Potter",
    "Hermione Granger",
    "James Potter I",
    "Kendra Dumbledore",
    "Lily J. Potter",
    "Lucius Malfoy",
    "Narcissa Malfoy",
    "Percival Dumbledore",
    "Petunia Dursley",
    "Roger Davies",
    "Ron Weasley",
    "Scorpius Malfoy",
    "William Weasley",
]
SPELLS = """Aberto, Accio, Age Line, Alarte Ascendare, Alohomora, Anti-Cheating Spell, Anti-Apparition Charm, Anti-Disapparition Jinx,
Anti-intruder jinx, Aparecium, Appare Vestigium, Apparition, Aqua Eructo, Arania Exumai, Arresto Momentum, Arrow-shooting spell,
Ascendio, Avada Kedavra, Avifors, Avenseguim, Babbling Curse, Badgering, Bat-Bogey Hex, Bedazzling Hex, Bewitched Snowballs,
Bluebell Flames, Blue sparks, Bombarda, Bombarda Maxima, Bravery Charm, Bridge-conjuring spell, Broom jinx, Bubble-Head Charm,
Bubble Spell, Calvorio, Cantis, Capacious extremis, Carpe Retractum, Cascading Jinx, Caterwauling Charm, Cave inimicum, Celescere,
Cheering Charm, Circumrota, Cistem Aperio, Colloportus, Colloshoo, Colovaria, Confringo, Confundo, Conjunctivitis Curse,
Cracker Jinx, Cribbing Spell, Crinus Muto, Crucio, Defodio, Deletrius, Densaugeo, Deprimo, Depulso, Descendo, Deterioration Hex,
Diffindo, Diminuendo, Dissendium, Disillusionment Charm, Draconifors, Drought Charm, Duro, Ear-shrivelling Curse, Ebublio,
Engorgio, Entrail-Expelling Curse, Epoximise, Erecto, Evanesce, Evanesco, Everte Statum, Expecto Patronum, Expelliarmus, Expulso,
Extinguishing Spell, Feather-light charm, Fianto Duri, Fidelius Charm, Fiendfyre, Finestra, Finite Incantatem,
Finger-removing jinx, Firestorm, Flagrante Curse, Flagrate, Flame-Freezing Charm, Flask-conjuring spell, Flintifors, Flipendo,
Flipendo Duo, Flipendo Maxima, Flipendo Tria, Flying charm, Fracto Strata, Fumos, Fumos Duo, Furnunculus, Fur spell, Geminio,
Glacius, Glacius Duo, Glacius Tria, Glisseo, Gripping Charm, Hair-thickening Charm, Herbifors, Herbivicus, Homenum Revelio,
Homonculous Charm, Hurling Hex, Impedimenta, Imperio, Inanimatus Conjurus, Incarcerous, Inflatus, Jelly-Brain Jinx,
Jelly-Fingers Curse, Knee-reversal hex, Langlock, Lapifors, Leek Jinx, Levicorpus, Liberacorpus, Locomotor Mortis, Melofors,
Meteolojinx recanto, Mimblewimble, Multicorfors, Obscuro, Oppugno, Orbis, Orchideous, Pepper Breath, Petrificus Totalus,
Piscifors, Point Me"""
APPENDIX_C_SPELLS = [s.strip() for s in SPELLS.replace("\n", " ").split(",")]
# Appendix C spells whose question was ill-posed (no single right type in the sources), each replaced by a spell of the books
DROPPED = {"Fracto Strata", "Inanimatus Conjurus", "Cribbing Spell", "Arania Exumai", "Cantis", "Blue sparks"}
ADDED = {"Protego", "Wingardium Leviosa", "Incendio", "Sectumsempra", "Reducto", "Serpensortia"}
SPELL_LIST = [s for s in APPENDIX_C_SPELLS if s not in DROPPED] + sorted(ADDED)
QUIZ = bundled_quiz()
COLUMNS = ["id", "category", "entity", "attribute", "question", "choices", "answer", "source", "source_tier", "evidence"]


def test_exactly_300_questions_157_characters_143_spells():
    assert len(QUIZ) == 300
    assert Counter(r["category"] for r in QUIZ) == {"character": 157, "spell": 143}
    assert all(list(r) == COLUMNS for r in QUIZ)


def test_every_listed_character_has_at_least_five_questions():
    per_character = Counter(r["entity"] for r in QUIZ if r["category"] == "character")
    assert sorted(per_character) == sorted(CHARACTERS)
    assert min(per_character.values()) >= 5


def test_one_question_per_listed_spell_about_its_type():
    spells = [r for r in QUIZ if r["category"] == "spell"]
    assert len(APPENDIX_C_SPELLS) == 143 and len(SPELL_LIST) == 143
    assert sorted(r["entity"] for r in spells) == sorted(SPELL_LIST)
    assert {r["attribute"] for r in spells} == {"spell_type"}


def test_ids_and_questions_are_unique_and_options_distinct():
    assert len({r["id"] for r in QUIZ}) == 300
    assert len({r["question"] for r in QUIZ}) == 300
    assert all(len(set(r["choices"])) == 4 and all(c.strip() == c and c for c in r["choices"]) for r in QUIZ)
    assert all(r["question"].endswith("?") and r["source"] for r in QUIZ)


def test_answers_are_balanced_over_a_to_d():
    assert Counter(r["answer"] for r in QUIZ) == {0: 75, 1: 75, 2: 75, 3: 75}


def test_options_come_from_their_attribute_value_set():
    declared = json.loads(data_path("attributes.json").read_text())
    values = {name: set(v) for name, v in declared["values"].items()}
    relationship = set(declared["relationship_attributes"])
    people = values["people"]
    for row in QUIZ:
        allowed = people if row["attribute"] in relationship else values[row["attribute"]]
        assert set(row["choices"]) <= allowed, row["id"]
    # the sets do not mix kinds: no house, colour or spell type is offered as a person
    for name, value_set in values.items():
        if name != "people":
            assert not value_set & people, name


def _memory(lang):
    return {e["source"]: e["target"] for e in map(json.loads, data_path("memory", f"{lang}.jsonl").read_text(encoding="utf-8").splitlines())}


@pytest.mark.parametrize("lang", CURATED_LANGUAGES)
def test_curated_memory_covers_every_cell_and_keeps_incantations(lang):
    memory = _memory(lang)
    glossary = {row["english"] for row in csv.DictReader(data_path("glossary", f"{lang}.tsv").open(encoding="utf-8"), delimiter="\t")}
    for row in QUIZ:
        assert row["question"] in memory and all(c in memory for c in row["choices"])
        translated = [memory[c] for c in row["choices"]]
        assert len(set(translated)) == 4, (lang, row["id"])  # options stay distinct
        assert all(memory[t].strip() for t in [row["question"], *row["choices"]])
        if row["category"] == "spell" and row["entity"] in row["question"] and row["entity"] not in glossary:
            assert row["entity"] in memory[row["question"]], (lang, row["id"])  # incantations stay unchanged


def test_native_headers_for_all_16_languages():
    assert list(json.loads(data_path("headers.json").read_text(encoding="utf-8"))) == list(LANGUAGES)
    assert instruction_header("en") == "The following are multiple choice questions (with answers) about Harry Potter."
    assert "Gryffondor" not in instruction_header("fr") and "Harry Potter" in instruction_header("fr")
    assert instruction_header("zh").endswith("。")


def test_default_build_is_offline_with_five_configs_of_300(tmp_path, cache_path):
    out = tmp_path / "hp_quiz"
    report = xbench.build("hp_quiz", out=out, cache=cache_path)
    assert sorted(get_dataset_config_names(str(out))) == ["de", "en", "es", "fr", "it"]
    assert report.configs == {name: {"dev": 10, "test": 300} for name in ["en", "fr", "de", "es", "it"]}
    fr = load_dataset(str(out), "fr", split="test", cache_dir=str(tmp_path / "hf"))
    assert fr.column_names == [*COLUMNS, "question_lang", "choice_langs", "translation", "untranslated"]
    house = next(r for r in fr if r["id"] == "character/harry_potter/hogwarts_house")
    assert "Gryffondor" in house["choices"] and set(fr["translation"]) == {"curated"}
    assert [r["answer"] for r in fr] == [r["answer"] for r in QUIZ]
    en = load_dataset(str(out), split="test", cache_dir=str(tmp_path / "hf"))  # default config: English
    assert en[0]["question"] == QUIZ[0]["question"] and set(en["translation"]) == {"original"}


def test_other_languages_and_mixed_formats_use_the_engine_chain(tmp_path, cache_path):
    out = tmp_path / "hp"
    report = xbench.build("hp_quiz", out=out, cache=cache_path, langs="fr,ru", formats="full,gt_option,mixup", translator="memory,pseudo")
    assert list(report.configs) == ["en", "fr", "fr_gt_option", "ru", "ru_gt_option", "mixup"]
    ru = pq.read_table(out / "ru" / "test-00000-of-00001.parquet").to_pylist()
    assert ru[0]["question"] == "[ru] " + QUIZ[0]["question"] and ru[0]["translation"] == "pseudo"
    mixup = pq.read_table(out / "mixup" / "test-00000-of-00001.parquet").to_pylist()
    assert all(r["translation"] in {"curated", "original"} for r in mixup)  # the pool's four languages are curated


def published_quiz(folder, **splits):
    """A folder in the published quiz's layout: one JSONL per language split (English, French, ...)."""
    for split, rows in splits.items():
        write_jsonl(folder / f"{split}.jsonl", rows)
    return str(folder)


def test_reads_the_published_quiz_layout(tmp_path, cache_path):
    folder = tmp_path / "published"
    english = [
        {"question": "What house was Harry Potter in?", "A": "Gryffindor", "B": "Slytherin", "C": "Hufflepuff", "D": "Ravenclaw", "GT": "A"},
        {"question": "What type of spell is Accio?", "A": "Curse", "B": "Charm", "C": "Hex", "D": "Jinx", "GT": "B"},
    ]
    french = [
        {"question": "Dans quelle maison était Harry Potter ?", "A": "Gryffondor", "B": "Serpentard", "C": "Poufsouffle", "D": "Serdaigle", "GT": "A"},
        {"question": "Quel type de sort est Accio ?", "A": "Maléfice", "B": "Sortilège", "C": "Sort", "D": "Mauvais sort", "GT": "B"},
    ]
    out = tmp_path / "out"
    report = xbench.build("hp_quiz", out=out, source=published_quiz(folder, English=english, French=french), cache=cache_path, langs="fr")
    assert report.configs == {"en": {"test": 2}, "fr": {"test": 2}}
    rows = pq.read_table(out / "fr" / "test-00000-of-00001.parquet").to_pylist()
    assert rows[1]["question"] == "Quel type de sort est Accio ?" and rows[1]["answer"] == 1
    assert rows[1]["choices"] == ["Maléfice", "Sortilège", "Sort", "Mauvais sort"] and rows[1]["translation"] == "original"
    write_jsonl(folder / "French.jsonl", french[:1])
    with pytest.raises(xbench.InputError, match="French has 1 rows, English has 2"):
        xbench.build("hp_quiz", out=tmp_path / "o2", source=str(folder), cache=tmp_path / "c2.sqlite", langs="fr")


def test_bundled_curated_translation_replaces_a_stale_cache_entry(tmp_path, cache_path):
    from xbench.translation import TranslationCache

    with TranslationCache(cache_path) as cache:
        cache.store("curated", "en", "fr", [("Gryffindor", "Griffondor (old)")])
    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=cache_path, langs="fr")
    rows = pq.read_table(out / "fr" / "test-00000-of-00001.parquet").to_pylist()
    house = next(r for r in rows if r["id"] == "character/harry_potter/hogwarts_house")
    assert "Gryffondor" in house["choices"] and "Griffondor (old)" not in house["choices"]


def test_published_translations_win_when_building_from_the_published_quiz(tmp_path, cache_path):
    folder = published_quiz(
        tmp_path / "published",
        English=[
            {"question": "Which house was Harry Potter sorted into?", "A": "Ravenclaw", "B": "Gryffindor", "C": "Hufflepuff", "D": "Slytherin", "GT": "B"}
        ],
        French=[{"question": "Dans quelle maison ?", "A": "Serdaigle", "B": "Gryffondor (publié)", "C": "Poufsouffle", "D": "Serpentard", "GT": "B"}],
    )
    xbench.build("hp_quiz", out=tmp_path / "default", cache=cache_path, langs="fr")  # puts curated entries in the cache
    out = tmp_path / "from_published"
    xbench.build("hp_quiz", out=out, source=folder, cache=cache_path, langs="fr")
    row = pq.read_table(out / "fr" / "test-00000-of-00001.parquet").to_pylist()[0]
    assert row["choices"][1] == "Gryffondor (publié)" and row["translation"] == "original"


def test_published_rows_keep_their_own_translation_of_a_shared_option(tmp_path, cache_path):
    english = [
        {"question": "What type of spell is Accio?", "A": "Curse", "B": "Charm", "C": "Hex", "D": "Jinx", "GT": "B"},
        {"question": "What type of spell is Lumos?", "A": "Charm", "B": "Curse", "C": "Hex", "D": "Jinx", "GT": "A"},
    ]
    german = [
        {"question": "Welche Art Zauber ist Accio?", "A": "Fluch", "B": "Zauber", "C": "Verhexung", "D": "Verwünschung", "GT": "B"},
        {"question": "Welche Art Zauber ist Lumos?", "A": "Zauberspruch", "B": "Fluch", "C": "Verhexung", "D": "Verwünschung", "GT": "A"},
    ]
    out = tmp_path / "out"
    source = published_quiz(tmp_path / "published", English=english, German=german)
    xbench.build("hp_quiz", out=out, source=source, cache=cache_path, langs="de", formats="full,gt_option")
    rows = pq.read_table(out / "de" / "test-00000-of-00001.parquet").to_pylist()
    assert [r["choices"] for r in rows] == [[g[c] for c in "ABCD"] for g in german]
    gt = pq.read_table(out / "de_gt_option" / "test-00000-of-00001.parquet").to_pylist()
    assert gt[1]["choices"] == ["Zauberspruch", "Curse", "Hex", "Jinx"] and "_published" not in gt[1]
