"""MMMLU and Global-MMLU human translations as a translation memory (`translations import --from`)."""

import csv

import pyarrow.parquet as pq
import pytest
from helpers import MMLU_TEST, write_jsonl
from typer.testing import CliRunner

from xbench.cli import app
from xbench.translation import TranslationCache

runner = CliRunner()
LETTERS = "ABCD"
# cais/mmlu items per subject, in order: elementary_mathematics/test/0..2, high_school_geography/test/0..1
BY_SUBJECT = sorted(((r["subject"], i) for i, r in enumerate(MMLU_TEST)), key=lambda p: p[0])


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def french(text):
    return f"FR: {text}"


def write_mmmlu(path, rows=None):
    """MMMLU's layout: an unnamed index column, then Question, A, B, C, D, Answer, Subject."""
    rows = rows if rows is not None else [MMLU_TEST[i] for _, i in BY_SUBJECT]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["", "Question", "A", "B", "C", "D", "Answer", "Subject"])
        for n, r in enumerate(rows):
            writer.writerow([n, french(r["question"]), *map(french, r["choices"]), LETTERS[r["answer"]], r["subject"]])
    return path


GLOBAL_COLUMNS = [
    "sample_id",
    "subject",
    "subject_category",
    "question",
    "option_a",
    "option_b",
    "option_c",
    "option_d",
    "answer",
    "required_knowledge",
    "time_sensitive",
    "reference",
    "culture",
    "region",
    "country",
    "cultural_sensitivity_label",
    "is_annotated",
]


def write_global(path, lang="de", annotated=(True, False)):
    per_subject = {}
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(GLOBAL_COLUMNS)
        for n, r in enumerate(MMLU_TEST[:2]):
            index = per_subject.get(r["subject"], 0)
            per_subject[r["subject"]] = index + 1
            de = [f"DE: {t}" for t in (r["question"], *r["choices"])]
            writer.writerow(
                [f"{r['subject']}/test/{index}", r["subject"], "STEM", *de, LETTERS[r["answer"]], "[]", "False", "[]", "[]", "Europe", "[]", "CA", annotated[n]]
            )
    return path


@pytest.fixture
def english(tmp_path):
    return write_jsonl(tmp_path / "test.jsonl", MMLU_TEST)


def test_mmmlu_import_then_build_takes_human_cells_first(tmp_path, english):
    (tmp_path / "mmmlu").mkdir()
    source = write_mmmlu(tmp_path / "mmmlu" / "mmlu_FR-FR.csv")
    cache = tmp_path / "cache.sqlite"
    result = invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache)
    assert result.exit_code == 0, result.output
    assert "fr: imported" in result.output and "human" in result.output
    with TranslationCache(cache) as store:
        entries = list(store.entries(target_lang="fr"))
    assert {e.engine for e in entries} == {"human"}
    assert {e.source: e.target for e in entries}["What is 2 + 2?"] == "FR: What is 2 + 2?"

    out = tmp_path / "build"
    args = ("build", "mmlu_mixup", "--source", english, "--langs", "fr", "--formats", "full", "--translator", "memory,pseudo", "--cache", cache, "--out", out)
    built = invoke(*args)
    assert built.exit_code == 0, built.output
    table = pq.read_table(next((out / "fr_full").glob("test-*.parquet"))).to_pylist()
    by_id = {r["id"]: r for r in table}
    row = by_id["elementary_mathematics/test/2"]
    assert row["question"] == "FR: What is 3 x 3?"
    assert row["choices"] == ["FR: 6", "FR: 9", "FR: 4", "FR: At noon"]
    assert row["translation"] == "human"


def test_machine_translation_only_for_gaps(tmp_path, english):
    maths = [r for r in MMLU_TEST if r["subject"] == "elementary_mathematics"]
    source = write_mmmlu(tmp_path / "mmlu_FR-FR.csv", maths)
    cache = tmp_path / "cache.sqlite"
    assert invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache).exit_code == 0
    out = tmp_path / "build"
    args = ("build", "mmlu_mixup", "--source", english, "--langs", "fr", "--formats", "full", "--translator", "memory,pseudo", "--cache", cache, "--out", out)
    assert invoke(*args).exit_code == 0
    rows = {r["id"]: r for r in pq.read_table(next((out / "fr_full").glob("test-*.parquet"))).to_pylist()}
    assert {rows[i]["translation"] for i in rows if i.startswith("elementary_mathematics")} == {"human"}
    geography = rows["high_school_geography/test/1"]
    assert geography["translation"] == "pseudo" and geography["question"] == "[fr] Which city is in Brazil?"


def test_global_mmlu_provenance_from_is_annotated(tmp_path, english):
    folder = tmp_path / "global"
    (folder / "de").mkdir(parents=True)
    write_global(folder / "de" / "test.csv")
    cache = tmp_path / "cache.sqlite"
    result = invoke("translations", "import", folder, "--from", "global-mmlu", "--english", english, "--cache", cache)
    assert result.exit_code == 0, result.output
    with TranslationCache(cache) as store:
        made = {e.source: e.engine for e in store.entries(target_lang="de")}
    assert made["What is 2 + 2?"] == "post-edited"
    assert made["At midnight"] == "mt-unchecked"


def test_rows_out_of_line_are_refused_naming_the_first(tmp_path, english):
    rows = [MMLU_TEST[i] for _, i in BY_SUBJECT]
    rows[1], rows[2] = rows[2], rows[1]  # two items of one subject swapped: answers no longer line up
    source = write_mmmlu(tmp_path / "mmlu_FR-FR.csv", rows)
    cache = tmp_path / "cache.sqlite"
    result = invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache)
    assert result.exit_code == 2
    assert "row 2 (elementary_mathematics/test/1)" in result.output and "do not line up" in result.output
    with TranslationCache(cache) as store:
        assert len(store) == 0


def test_wrong_layout_names_missing_columns(tmp_path, english):
    path = tmp_path / "mmlu_FR-FR.csv"
    path.write_text("Question,A,B\nq,a,b\n", encoding="utf-8")
    result = invoke("translations", "import", path, "--from", "mmmlu", "--english", english, "--cache", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert "missing column(s) C, D, Answer, Subject" in result.output


def test_language_the_source_lacks_lists_those_it_has(tmp_path, english):
    folder = tmp_path / "mmmlu"
    folder.mkdir()
    write_mmmlu(folder / "mmlu_FR-FR.csv")
    write_mmmlu(folder / "mmlu_DE-DE.csv")
    result = invoke("translations", "import", folder, "--from", "mmmlu", "--langs", "ru", "--english", english, "--cache", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert "has no ru; it has de, fr" in result.output


def test_nothing_overwritten_without_replace(tmp_path, english):
    source = write_mmmlu(tmp_path / "mmlu_FR-FR.csv")
    cache = tmp_path / "cache.sqlite"
    with TranslationCache(cache) as store:
        store.store("human", "en", "fr", [("What is 2 + 2?", "Combien font 2 + 2 ?")])
    result = invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache)
    assert result.exit_code == 0 and "1 existing entries kept" in result.output
    with TranslationCache(cache) as store:
        assert store.lookup("human", "en", "fr", ["What is 2 + 2?"]) == {"What is 2 + 2?": "Combien font 2 + 2 ?"}
    assert invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache, "--replace").exit_code == 0
    with TranslationCache(cache) as store:
        assert store.lookup("human", "en", "fr", ["What is 2 + 2?"]) == {"What is 2 + 2?": "FR: What is 2 + 2?"}


def test_aligns_with_the_real_cais_mmlu_test_split(tmp_path):
    real = pq.read_table("/work/shared/data/mmlu/test.parquet").to_pylist()
    algebra = [r for r in real if r["subject"] == "abstract_algebra"][:3]
    source = write_mmmlu(tmp_path / "mmlu_FR-FR.csv", algebra)
    result = invoke("translations", "import", source, "--from", "mmmlu", "--english", "/work/shared/data/mmlu/test.parquet", "--cache", tmp_path / "c.sqlite")
    assert result.exit_code == 0, result.output
    distinct = len({t for r in algebra for t in (r["question"], *r["choices"])})  # the memory is keyed by English text
    assert distinct < 15 and f"({distinct} human)" in result.output


def test_card_counts_cells_by_provenance(tmp_path, english):
    maths = [r for r in MMLU_TEST if r["subject"] == "elementary_mathematics"]
    source = write_mmmlu(tmp_path / "mmlu_FR-FR.csv", maths)
    cache = tmp_path / "cache.sqlite"
    assert invoke("translations", "import", source, "--from", "mmmlu", "--english", english, "--cache", cache).exit_code == 0
    out = tmp_path / "build"
    args = ("build", "mmlu_mixup", "--source", english, "--langs", "fr", "--formats", "full", "--translator", "memory,pseudo", "--cache", cache, "--out", out)
    assert invoke(*args).exit_code == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    # 3 maths items x 5 cells = 15, less the repeated option texts; the 2 geography items (10 cells) by pseudo
    with TranslationCache(cache) as store:
        human = {e.source for e in store.entries(target_lang="fr") if e.engine == "human"}
    geography = {t for r in MMLU_TEST if r["subject"] == "high_school_geography" for t in (r["question"], *r["choices"])}
    assert "| language | human | machine (engine) |" in card
    assert f"| French (`fr`) | {len(human)} | pseudo ({len(geography - human)}) |" in card


def test_card_without_imported_memory_has_no_provenance_table(tmp_path, english):
    out = tmp_path / "build"
    args = (
        "build",
        "mmlu_mixup",
        "--source",
        english,
        "--langs",
        "fr",
        "--formats",
        "full",
        "--translator",
        "pseudo",
        "--cache",
        tmp_path / "c.sqlite",
        "--out",
        out,
    )
    assert invoke(*args).exit_code == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| French (`fr`) |" in card and "by provenance" not in card
