"""The one build flow: typed family options, chunked translate-while-writing, the card's ``xbench`` block."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from helpers import write_jsonl
from test_tofu import PERTURBED
from test_wikitext_mixed import WIKI
from typer.testing import CliRunner

import xbench
import xbench.family
from xbench.builders import family_options, get_family
from xbench.builders.tofu import TofuOptions
from xbench.builders.wikitext_mixed import WikitextOptions
from xbench.cli import app
from xbench.errors import InputError
from xbench.family import NoOptions


@pytest.mark.parametrize(
    ("dataset", "given", "message"),
    [
        ("mmlu_mixup", {"doc_unit": "article"}, "--doc-unit: mmlu_mixup does not take this option (it is for wikitext_mixed)"),
        ("hp_quiz", {"source_config": "x"}, "--source-config: hp_quiz does not take this option (it is for tofu, wikitext_mixed)"),
        ("wikitext_mixed", {"translate_answers": True}, "--translate-answers: wikitext_mixed does not take this option (it is for tofu)"),
        ("tofu", {"colour": "red"}, "--colour: tofu does not take this option (no family takes it)"),
    ],
)
def test_a_flag_the_family_does_not_take_is_refused_naming_who_takes_it(dataset, given, message):
    with pytest.raises(InputError) as raised:
        family_options(get_family(dataset), given)
    assert str(raised.value) == message


def test_cli_refuses_a_flag_of_another_family_with_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["build", "mmlu_mixup", "--source", "sample", "--translator", "pseudo", "--out", str(tmp_path / "o"), "--unit", "words8"])
    assert result.exit_code == 2, result.output
    assert "--unit: mmlu_mixup does not take this option (it is for wikitext_mixed, fictional_facts)" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_options_not_given_take_the_family_defaults():
    assert family_options(get_family("mmlu_mixup"), {"doc_unit": None, "unit": None}) == NoOptions()
    assert family_options(get_family("tofu"), None) == TofuOptions(source_config=None, translate_answers=False)
    wikitext = family_options(get_family("wikitext_mixed"), {"max_docs": 3, "pool": None})
    assert wikitext == WikitextOptions(source_config="wikitext-2-raw-v1", unit="sentence", doc_unit="line", pool="en,fr,de,es,it", max_docs=3)
    typed = WikitextOptions(unit="words8")
    assert family_options(get_family("wikitext_mixed"), typed) is typed


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_docs": "3"}, "--max-docs: expected int, got '3'"),
        ({"max_docs": True}, "--max-docs: expected int, got True"),
        ({"all_languages": 1}, "--all-languages: expected bool, got 1"),
        ({"pool": ["en", "fr"]}, "--pool: expected str, got ['en', 'fr']"),
    ],
)
def test_option_values_have_the_declared_types(given, message):
    with pytest.raises(InputError) as raised:
        family_options(get_family("wikitext_mixed"), given)
    assert str(raised.value) == message


def test_a_path_is_taken_for_a_text_option_and_the_wrong_dataclass_is_refused():
    assert family_options(get_family("wikitext_mixed"), {"subset": Path("/x/index.json")}).subset == "/x/index.json"
    with pytest.raises(InputError, match="options: tofu takes TofuOptions, not WikitextOptions"):
        family_options(get_family("tofu"), WikitextOptions())


def test_seed_and_qa_are_build_parameters_not_family_options(tmp_path):
    with pytest.raises(InputError, match=r"^--qa: mmlu_mixup does not take this option \(no family takes it\)$"):
        xbench.build("mmlu_mixup", out=tmp_path / "o", source="sample", translator="pseudo", options={"qa": "flores"})


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    wiki = root / "wiki"
    wiki.mkdir()
    (wiki / "wiki.train.txt").write_text(WIKI * 2, encoding="utf-8")
    return {"tofu": write_jsonl(root / "forget01_perturbed.jsonl", PERTURBED), "wiki": wiki}


BUILDS = {
    "mmlu_mixup": lambda s: {"source": "sample", "translator": "pseudo", "langs": "fr,de"},
    "hp_quiz": lambda s: {"langs": "fr", "formats": "full,question"},
    "tofu": lambda s: {"source": str(s["tofu"]), "translator": "pseudo", "langs": "fr", "options": {"translate_answers": True}},
    "wikitext_mixed": lambda s: {"source": str(s["wiki"]), "translator": "pseudo", "options": {"unit": "sentence,words3", "all_languages": True}},
}


def _files(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != "build_report.json"
    }


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    """Each family built twice: as usual, and in chunks of 3 rows with a fresh cache."""
    root = tmp_path_factory.mktemp("built")
    folders = {}
    for dataset, arguments in BUILDS.items():
        usual = root / dataset
        xbench.build(dataset, out=usual, cache=root / f"{dataset}.sqlite", **arguments(sources))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(xbench.family, "CHUNK_ROWS", 3)
            xbench.build(dataset, out=root / f"{dataset}-chunked", cache=root / f"{dataset}-chunked.sqlite", **arguments(sources))
        folders[dataset] = usual
    return folders


@pytest.mark.parametrize("dataset", list(BUILDS))
def test_every_file_is_the_same_whatever_the_chunk_size_and_cache(built, dataset):
    usual = _files(built[dataset])
    assert any(name.endswith(".parquet") for name in usual) and "README.md" in usual
    assert _files(built[dataset].with_name(f"{dataset}-chunked")) == usual


@pytest.mark.parametrize("dataset", list(BUILDS))
def test_language_stats_count_each_segment_once_per_build(built, dataset):
    def stats(folder: Path) -> dict:
        languages = json.loads((folder / "build_report.json").read_text())["languages"]
        return {lang: (s["segments"], s["characters"], s["engines"]) for lang, s in languages.items()}

    assert stats(built[dataset]) == stats(built[dataset].with_name(f"{dataset}-chunked"))


def test_mmlu_stats_are_the_unique_cells_of_each_language_over_all_its_configs(built):
    from xbench.builders.mmlu_mixup import load_source

    rows = [row for split in load_source("sample").values() for row in split]
    unique = {text for row in rows for text in (row["question"], *row["choices"]) if text.strip()}
    languages = json.loads((built["mmlu_mixup"] / "build_report.json").read_text())["languages"]
    assert languages["fr"]["segments"] == len(unique)  # fr_full, the other fr formats and mixup share them


def _card_block(folder: Path) -> dict:
    return yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---\n")[1])["xbench"]


def test_card_describes_each_config_for_the_runner(built):
    mmlu = _card_block(built["mmlu_mixup"])
    assert mmlu["family"] == "mmlu_mixup"
    assert mmlu["configs"]["en"] == {"kind": "multiple_choice", "language": "en", "languages": ["en"]}
    assert mmlu["configs"]["fr_full"] == {"kind": "multiple_choice", "language": "fr", "languages": ["fr"]}
    assert mmlu["configs"]["de_one_wrong"] == {"kind": "multiple_choice", "language": "de", "languages": ["en", "de"]}
    assert mmlu["configs"]["mixup"] == {"kind": "multiple_choice", "language": "en", "languages": ["en", "fr", "de", "es", "it"]}
    hp = _card_block(built["hp_quiz"])["configs"]
    assert hp["fr"] == {
        "kind": "multiple_choice",
        "language": "fr",
        "languages": ["fr"],
        "header": "Voici des questions à choix multiples (avec leurs réponses) sur Harry Potter.",
    }
    assert hp["fr_question"]["languages"] == ["en", "fr"] and hp["en"]["header"].startswith("The following are multiple choice questions")
    tofu = _card_block(built["tofu"])["configs"]
    assert tofu == {
        "forget01_perturbed_en": {"kind": "generation", "language": "en", "languages": ["en"]},
        "forget01_perturbed_fr": {"kind": "generation", "language": "fr", "languages": ["en", "fr"]},
    }
    wiki = _card_block(built["wikitext_mixed"])
    assert wiki["family"] == "wikitext_mixed" and list(wiki["configs"]) == ["sentence", "words3", "sentence_all", "words3_all"]
    assert wiki["configs"]["words3_all"] == {"kind": "text", "language": "en", "languages": ["en", "fr", "de", "es", "it"]}


def test_card_block_stays_out_of_the_configs_datasets_reads(built):
    front = yaml.safe_load((built["hp_quiz"] / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert all(set(entry) <= {"config_name", "default", "data_files"} for entry in front["configs"])


def test_seen_segments_tell_a_first_meeting_per_language_across_batches():
    from xbench.building import SeenSegments

    seen = SeenSegments()
    many = [f"sentence {n}" for n in range(1200)]  # more than one query batch
    assert seen.first_seen(["a", "b"], "fr") == [True, True]
    assert seen.first_seen(["b", "c"], "fr") == [False, True]
    assert seen.first_seen(["a"], "de") == [True]
    assert seen.first_seen(many, "fr") == [True] * 1200
    assert seen.first_seen([*many[-3:], "d"], "fr") == [False, False, False, True]
    seen.close()
