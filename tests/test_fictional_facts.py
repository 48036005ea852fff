"""fictional_facts: determinism, name checks, balanced letters, distractors, held-out split, templates, bad input."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from xbench.builders.fictional_facts import FictionalOptions, templates_for, world
from xbench.builders.fictional_facts.entities import VOCABULARY, common_words
from xbench.builders.fictional_facts.render import answer_positions, biography, distractors, fact, mcq_rows, question
from xbench.builders.fictional_facts.templates import ATTRIBUTES, PAIR_GENDERS, PLACEHOLDER, bundled_languages, fill, template_file
from xbench.cli import app

LANGS = ("en", "fr", "de", "es", "it")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def read(folder: Path, config: str, split: str) -> list[dict]:
    return pq.read_table(next((folder / config).glob(f"{split}-*.parquet"))).to_pylist()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("ff") / "ff"
    cache = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    result = invoke("build", "fictional_facts", "--entities", 40, "--langs", ",".join(LANGS), "--seed", 0, "--out", out, "--cache", cache, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_same_seed_gives_byte_identical_files(built, tmp_path):
    again = tmp_path / "again"
    result = invoke(
        "build", "fictional_facts", "--entities", 40, "--langs", ",".join(LANGS), "--seed", 0, "--out", again, "--cache", tmp_path / "c.sqlite", "-q"
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        if name.name != "build_report.json":  # holds the build's duration
            assert (built / name).read_bytes() == (again / name).read_bytes(), name


def test_another_seed_gives_other_people():
    assert [e.name for e in world(0, 40, 20).entities] != [e.name for e in world(1, 40, 20).entities]


def test_configs_splits_and_card_block(built):
    card = (built / "README.md").read_text(encoding="utf-8")
    block = card.split("\nxbench:\n", 1)[1]
    for lang in LANGS:
        assert sorted(p.name.split("-")[0] for p in (built / f"{lang}_bio").glob("*.parquet")) == ["train"]
        assert sorted(p.name.split("-")[0] for p in (built / f"{lang}_mcq").glob("*.parquet")) == ["heldout", "test"]
        assert len(read(built, f"{lang}_bio", "train")) == 40 * 5
        assert len(read(built, f"{lang}_mcq", "test")) == 40 * len(ATTRIBUTES)
        assert len(read(built, f"{lang}_qa", "heldout")) == 20 * len(ATTRIBUTES)
    assert "  configs:\n    en_bio:\n      kind: text\n      language: en\n" in block
    assert "    en_qa:\n      kind: generation\n" in block and "    fr_mcq:\n      kind: multiple_choice\n      language: fr\n" in block
    assert "Build signature: `" in card


def test_names_are_no_common_word_and_distinct():
    built = world(0, 200, 50)
    words = common_words()
    names = [e.name for e in built.entities]
    assert len(set(names)) == len(names)
    for name in [*names, *built.cities, *built.employers]:
        assert all(part.casefold() not in words for part in name.split()), name
    vocabulary = {
        form.casefold()
        for lang in bundled_languages()
        for forms in templates_for((lang,), FictionalOptions()).values()
        for attr in forms.values.values()
        for pair in attr.values()
        for form in pair
    }
    assert not {n.casefold() for n in [*names, *built.cities, *built.employers]} & vocabulary
    assert {"anna", "maria", "simon"} <= words  # the list is read, comments skipped


def test_letters_balanced_and_distractors_from_the_same_attribute(built):
    for split in ("test", "heldout"):
        rows = read(built, "fr_mcq", split)
        counts = Counter(row["answer"] for row in rows)
        assert max(counts.values()) - min(counts.values()) <= 1, counts
        assert set(counts) == {0, 1, 2, 3}
    built_world = world(0, 40, 20)
    people = {e.name for e in built_world.entities}
    en = templates_for(("en",), FictionalOptions())["en"]
    for row in read(built, "en_mcq", "test"):
        attr, choices = row["attribute"], row["choices"]
        assert len(set(choices)) == 4
        if attr in VOCABULARY:
            assert set(choices) <= {pair[0] for pair in en.values[attr].values()}
        elif attr == "birth_city":
            assert set(choices) <= set(built_world.cities)
        elif attr == "employer":
            assert set(choices) <= set(built_world.employers)
        elif attr == "sibling":
            assert set(choices) <= people
        else:
            assert all(1940 <= int(c) <= 2005 for c in choices)


def test_same_options_in_the_same_places_in_every_language(built):
    ids = {lang: [(r["id"], r["answer"]) for r in read(built, f"{lang}_mcq", "test")] for lang in LANGS}
    assert all(ids[lang] == ids["en"] for lang in LANGS)


def test_heldout_entities_are_never_trained_on(built):
    trained = {r["entity"] for r in read(built, "en_bio", "train")}
    test = {r["entity"] for r in read(built, "en_mcq", "test")}
    heldout = {r["entity"] for r in read(built, "en_mcq", "heldout")}
    assert test == trained and not heldout & trained and len(heldout) == 20
    names = {e.id: e.name for e in world(0, 40, 20).entities}
    corpus = " ".join(r["text"] for lang in LANGS for r in read(built, f"{lang}_bio", "train"))
    corpus += " ".join(r["text"] for r in read(built, "mixed_bio_sentence", "train"))
    assert not [names[e] for e in heldout if names[e] in corpus]
    sibling_rows = [r for r in read(built, "en_mcq", "heldout") if r["attribute"] == "sibling"]
    heldout_names = {names[e] for e in heldout}
    assert all(set(r["choices"]) <= heldout_names for r in sibling_rows)


def test_every_template_renders_every_attribute_without_placeholders():
    built_world = world(0, 40, 20)
    by_gender = {}
    for e in built_world.entities:
        by_gender.setdefault(e.gender + built_world.by_id[e.sibling].gender, e)
    assert set(by_gender) == set(PAIR_GENDERS)  # every gender pair is exercised
    for lang in bundled_languages():
        lt = templates_for((lang,), FictionalOptions())[lang]
        assert set(lt.attributes) | set(lt.omitted) == set(ATTRIBUTES)
        for entity in by_gender.values():
            for attr in lt.attributes:
                for p in range(len(lt.facts[attr])):
                    text = fact(built_world, entity, attr, p, lt)
                    assert not PLACEHOLDER.search(text) and entity.name in text and "{" not in text, (lang, attr, p)
                assert entity.name in question(entity, attr, lt) and "{" not in question(entity, attr, lt)
            assert biography(built_world, entity, 0, lt).count(entity.name) == len(lt.attributes)


def test_mixed_sentence_rows_mix_the_pool(built):
    rows = read(built, "mixed_bio_sentence", "train")
    seen = Counter(lang for row in rows for lang in row["languages"])
    assert set(seen) == set(LANGS)
    assert all(len(row["languages"]) == len(ATTRIBUTES) for row in rows)
    documents = read(built, "mixed_bio_document", "train")
    assert all(len(set(row["languages"])) == 1 for row in documents)


EXPECTED_BIO = {
    "en": "Orina Stryunov's favourite sport is cycling. The employer of Orina Stryunov is Qorvacorp. The birthplace of Orina Stryunov is Sylubrun. "
    "Orina Stryunov and Bravel Tazzovik are siblings. Orina Stryunov has a cat as a pet. The colour Orina Stryunov likes best is yellow. "
    "Orina Stryunov came into the world in 1989. Orina Stryunov plays the violin.",
    "fr": "Le sport préféré d'Orina Stryunov est le cyclisme. L'employeur d'Orina Stryunov est Qorvacorp. La ville natale d'Orina Stryunov est Sylubrun. "
    "Orina Stryunov a un frère, Bravel Tazzovik. Orina Stryunov a un chat comme animal de compagnie. La couleur qu'Orina Stryunov aime le plus est le jaune. "
    "Orina Stryunov a vu le jour en 1989. L'instrument d'Orina Stryunov est le violon.",
    "de": "Der Lieblingssport von Orina Stryunov ist Radfahren. Der Arbeitgeber von Orina Stryunov ist Qorvacorp. Der Geburtsort von Orina Stryunov ist Sylubrun. "
    "Orina Stryunov hat einen Bruder namens Bravel Tazzovik. Das Haustier von Orina Stryunov ist eine Katze. Am liebsten mag Orina Stryunov die Farbe Gelb. "
    "Orina Stryunov kam im Jahr 1989 zur Welt. Orina Stryunov spielt Geige.",
    "es": "El deporte favorito de Orina Stryunov es el ciclismo. La empresa de Orina Stryunov es Qorvacorp. La ciudad natal de Orina Stryunov es Sylubrun. "
    "Orina Stryunov tiene un hermano llamado Bravel Tazzovik. Orina Stryunov tiene un gato como mascota. El color que más le gusta a Orina Stryunov es el amarillo. "
    "Orina Stryunov vino al mundo en 1989. Orina Stryunov toca el violín.",
    "it": "Lo sport preferito di Orina Stryunov è il ciclismo. Il datore di lavoro di Orina Stryunov è Qorvacorp. La città natale di Orina Stryunov è Sylubrun. "
    "Orina Stryunov ha un fratello di nome Bravel Tazzovik. Orina Stryunov ha un gatto come animale domestico. Il colore che Orina Stryunov ama di più è il giallo. "
    "Orina Stryunov è venuta al mondo nel 1989. Orina Stryunov suona il violino.",
}
EXPECTED_QUESTION = {
    "en": "In which city was Orina Stryunov born?",
    "fr": "Dans quelle ville Orina Stryunov est-elle née ?",
    "de": "In welcher Stadt wurde Orina Stryunov geboren?",
    "es": "¿En qué ciudad nació Orina Stryunov?",
    "it": "In quale città è nata Orina Stryunov?",
}


@pytest.mark.parametrize("lang", LANGS)
def test_exact_strings_of_one_entity(built, lang):
    bio = read(built, f"{lang}_bio", "train")[0]
    assert (bio["id"], bio["entity"], bio["paraphrase"]) == ("e0000/p0", "e0000", 0)
    assert bio["text"] == EXPECTED_BIO[lang]
    mcq = read(built, f"{lang}_mcq", "test")[0]
    assert (mcq["id"], mcq["question"], mcq["choices"], mcq["answer"]) == (
        "e0000/birth_city",
        EXPECTED_QUESTION[lang],
        ["Sylebrun", "Sylubrun", "Velamira", "Ostraria"],
        1,
    )
    qa = read(built, f"{lang}_qa", "test")[0]
    assert (qa["question"], qa["answer"]) == (EXPECTED_QUESTION[lang], "Sylubrun")


def test_french_elision():
    assert fill("La ville de {name} est {value}.", ("de", "que"), name="Orina X", value="Ostraria") == "La ville d'Orina X est Ostraria."
    assert fill("Vende {name}", ("de",), name="Emi", value="") == "Vende Emi"
    assert fill("De {name}", ("de",), name="Emi", value="") == "D'Emi"


def test_distractors_and_letters_are_seeded():
    a, b = world(0, 40, 20), world(0, 40, 20)
    e = a.entities[3]
    assert distractors(a, e, "colour") == distractors(b, b.entities[3], "colour")
    assert answer_positions(a, "trained") == answer_positions(b, "trained")
    assert [r["choices"] for r in mcq_rows(a, "heldout", templates_for(("de",), FictionalOptions())["de"])][:3]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--entities", "0"], "--entities: 0; at least 5"),
        (["--paraphrases", "6"], "--paraphrases: 6, but "),
        (["--langs", "xx"], "--langs: unknown language code 'xx'"),
        (["--langs", "ru"], "--langs: no fictional_facts templates for 'ru'"),
        (["--heldout", "2"], "--heldout: 2; at least 5"),
        (["--source", "x.jsonl"], "--source: fictional_facts is generated from its templates"),
    ],
)
def test_bad_input_exit_2_in_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    result = invoke("build", "fictional_facts", "--out", out, "--cache", tmp_path / "c.sqlite", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_template_missing_an_attribute_names_file_and_attribute(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    for lang in ("en", "fr", "de", "es", "it"):
        shutil.copy(template_file(lang, None), folder / f"{lang}.json")
    broken = json.loads((folder / "fr.json").read_text(encoding="utf-8"))
    del broken["facts"]["pet"]
    (folder / "fr.json").write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    result = invoke("build", "fictional_facts", "--templates", folder, "--langs", "fr", "--out", tmp_path / "o", "--cache", tmp_path / "c.sqlite")
    assert result.exit_code == 2, result.output
    assert f"{folder / 'fr.json'}: attribute 'pet' has no fact templates" in result.output.replace("\n", "")


def test_template_with_a_stray_placeholder_is_refused(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    data = json.loads(template_file("en", None).read_text(encoding="utf-8"))
    data["facts"]["sport"][0] = "{name} loves {sport}."
    (folder / "en.json").write_text(json.dumps(data), encoding="utf-8")
    result = invoke(
        "build", "fictional_facts", "--templates", folder, "--langs", "en", "--pool", "en", "--out", tmp_path / "o", "--cache", tmp_path / "c.sqlite"
    )
    assert result.exit_code == 2
    assert "facts.sport[0]: uses {name}, {sport}; it must use exactly {name}, {value}" in result.output.replace("\n", "")
