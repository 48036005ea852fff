import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import get_dataset_config_names, load_dataset
from helpers import MMLU_DEV, MMLU_TEST, FakeEngine, write_jsonl

import xbench
from xbench.errors import InputError, TranslationFailed

ALL_FORMATS = ["full", "question", "options", "question_gt", "gt_option", "one_wrong", "three_wrong"]


def run_build(out, source, cache_path, engine=None, **kwargs):
    return xbench.build("mmlu_mixup", out=out, source=str(source), translator=engine or FakeEngine(), cache=cache_path, **kwargs)


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One fr,de build of every format, read by several tests; its source and (warm) cache come with it."""
    root = tmp_path_factory.mktemp("built")
    source, cache = root / "mmlu_src", root / "cache" / "translations.sqlite"
    write_jsonl(source / "test.jsonl", MMLU_TEST)
    write_jsonl(source / "dev.jsonl", MMLU_DEV)
    engine = FakeEngine()
    out = root / "mmlu_out"
    report = run_build(out, source, cache, engine, langs="fr,de", formats="all")
    return out, report, engine, source, cache


def test_configs_rows_and_card_are_loadable_offline(built):
    out, report, *_ = built
    expected = ["en", *[f"{lang}_{f}" for lang in ("fr", "de") for f in ALL_FORMATS], "mixup"]
    assert list(report.configs) == expected
    assert sorted(get_dataset_config_names(str(out))) == sorted(expected)
    ds = load_dataset(str(out), "fr_gt_option")
    assert ds["test"].num_rows == len(MMLU_TEST) and ds["dev"].num_rows == len(MMLU_DEV)
    assert ds["test"].column_names == ["question", "subject", "choices", "answer", "id", "question_lang", "choice_langs", "translation", "untranslated"]
    first = ds["test"][0]
    assert first["question"] == "What is 2 + 2?"
    assert first["choices"] == ["3", "<fr>4", "5", "22"]
    assert first["answer"] == 1 and first["id"] == "elementary_mathematics/test/0"
    assert first["choice_langs"] == ["en", "fr", "en", "en"] and first["translation"] == "fake"
    default = load_dataset(str(out), split="test")  # the default config is mixup
    assert sorted([default[0]["question_lang"], *default[0]["choice_langs"]]) == ["de", "en", "es", "fr", "it"]


def test_answer_key_subject_and_ids_are_the_same_in_every_config(built):
    out, report, *_ = built
    for config in report.configs:
        table = pq.read_table(out / config / "test-00000-of-00001.parquet").to_pylist()
        assert [r["answer"] for r in table] == [r["answer"] for r in MMLU_TEST]
        assert [r["subject"] for r in table] == [r["subject"] for r in MMLU_TEST]
        assert [r["id"] for r in table] == [
            "elementary_mathematics/test/0",
            "elementary_mathematics/test/1",
            "high_school_geography/test/0",
            "high_school_geography/test/1",
            "elementary_mathematics/test/2",
        ]
        for row, original in zip(table, MMLU_TEST):
            for cell, lang, source in zip(row["choices"], row["choice_langs"], original["choices"]):
                assert cell == (source if lang == "en" else f"<{lang}>{source}")


def test_each_unique_text_and_target_is_translated_exactly_once(built):
    _, report, engine, *_ = built
    by_target: dict[str, list[str]] = {}
    for texts, _, target in engine.requests:
        by_target.setdefault(target, []).extend(texts)
    for target, units in by_target.items():
        assert len(units) == len(set(units)), target
    all_units = {line.strip() for row in MMLU_TEST + MMLU_DEV for text in [row["question"], *row["choices"]] for line in text.splitlines() if line.strip()}
    assert set(by_target["fr"]) == all_units  # fr_full needs every cell
    assert set(by_target["es"]) < all_units  # es only appears in mixup
    assert report.languages["fr"].failures == 0


def test_multi_line_and_padded_questions_keep_their_whitespace(built):
    out, *_ = built
    rows = pq.read_table(out / "fr_full" / "test-00000-of-00001.parquet").to_pylist()
    assert rows[1]["question"] == "<fr>Passage: a train leaves at noon.\n<fr>When does it leave?"
    assert rows[2]["question"] == "  <fr>Which river flows through Paris? "


def test_card_yaml_and_build_report(built):
    out, *_ = built
    card = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "mit" and meta["source_datasets"] == ["cais/mmlu"]
    assert meta["language"] == ["en", "fr", "de", "es", "it"]
    assert meta["size_categories"] == ["n<1K"] and meta["pretty_name"]
    mixup = next(c for c in meta["configs"] if c["config_name"] == "mixup")
    assert mixup["default"] is True
    assert mixup["data_files"] == [{"split": "test", "path": "mixup/test-*.parquet"}, {"split": "dev", "path": "mixup/dev-*.parquet"}]
    assert "`fr_gt_option`" in card and "Measuring Massive Multitask Language Understanding" in card
    assert "Translator chain: `fake`" in card and "seed `0`" in card
    report = json.loads((out / "build_report.json").read_text())
    fr = report["languages"]["fr"]
    assert set(fr) >= {"segments", "characters", "requests", "cache_hits", "retries", "failures", "engines", "seconds"}
    assert fr["engines"] == {"fake": fr["segments"]} and fr["cache_hits"] == 0
    assert not list(out.rglob("*.py")) and not list(out.parent.glob(".mmlu_out.xbench-*"))


def test_same_inputs_seed_and_cache_give_byte_identical_output(built, tmp_path):
    out, _, _, mmlu_source, cache_path = built
    again = tmp_path / "again"
    run_build(again, mmlu_source, cache_path, FakeEngine(), langs="fr,de", formats="all")
    assert parquet_bytes(again) == parquet_bytes(out)
    assert (again / "README.md").read_bytes() == (out / "README.md").read_bytes()
    fresh = tmp_path / "fresh"  # a fresh cache and a deterministic engine give the same bytes too
    run_build(fresh, mmlu_source, tmp_path / "other.sqlite", FakeEngine(), langs="fr,de", formats="all")
    assert parquet_bytes(fresh) == parquet_bytes(out)
    reseeded = tmp_path / "reseeded"
    run_build(reseeded, mmlu_source, cache_path, FakeEngine(), langs="fr,de", formats="all", seed=1)
    assert parquet_bytes(reseeded)["mixup/test-00000-of-00001.parquet"] != parquet_bytes(out)["mixup/test-00000-of-00001.parquet"]


def test_failed_build_leaves_nothing_and_a_rerun_resumes_from_the_cache(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    broken = FakeEngine(fail_texts={"The Seine"})
    with pytest.raises(TranslationFailed, match="could not be translated en->fr: 'The Seine'"):
        run_build(out, mmlu_source, cache_path, broken, langs="fr", formats="all")
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if "xbench" in p.name] == []
    resumed = FakeEngine()
    run_build(out, mmlu_source, cache_path, resumed, langs="fr", formats="all")
    fr_units = [u for texts, _, target in resumed.requests if target == "fr" for u in texts]
    done_before = {u for texts, _, target in broken.requests if target == "fr" for u in texts} - {"The Seine"}
    assert "The Seine" in fr_units and done_before and not done_before & set(fr_units)  # what the failed build translated came from the cache
    clean = tmp_path / "clean"
    run_build(clean, mmlu_source, tmp_path / "clean.sqlite", FakeEngine(), langs="fr", formats="all")
    assert parquet_bytes(out) == parquet_bytes(clean)


def test_allow_untranslated_keeps_english_and_marks_the_cells(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    report = run_build(out, mmlu_source, cache_path, FakeEngine(fail_texts={"The Seine"}), langs="fr", formats="full", allow_untranslated=True)
    rows = pq.read_table(out / "fr_full" / "test-00000-of-00001.parquet").to_pylist()
    assert rows[2]["choices"][2] == "The Seine" and rows[2]["untranslated"] == ["choices[2]"]
    assert all(r["untranslated"] == [] for i, r in enumerate(rows) if i != 2)
    assert report.untranslated == {"fr_full": 1}
    assert "`fr_full`: 1" in (out / "README.md").read_text()


def test_rebuild_replaces_only_what_the_build_owns(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    run_build(out, mmlu_source, cache_path, langs="fr", formats="full")
    (out / "runs").mkdir()
    (out / "runs" / "results.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    before = (out / "fr_full" / "test-00000-of-00001.parquet").read_bytes()
    with pytest.raises(InputError, match=r"holds configs of an earlier build that this one does not write \(fr_full\); build them again"):
        run_build(out, mmlu_source, cache_path, langs="de", formats="gt_option")
    assert (out / "fr_full" / "test-00000-of-00001.parquet").read_bytes() == before
    run_build(out, mmlu_source, cache_path, langs="fr,de", formats="full,gt_option")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "build_report.json",
        "de_full",
        "de_gt_option",
        "en",
        "fr_full",
        "fr_gt_option",
        "notes.txt",
        "runs",
    ]
    assert (out / "runs" / "results.json").read_text() == "{}" and (out / "notes.txt").read_text() == "mine"
    assert (out / "fr_full" / "test-00000-of-00001.parquet").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".xbench-" in p.name]
    (out / "fr_full" / "notes.txt").write_text("mine too")
    with pytest.raises(InputError, match=r"fr_full/notes\.txt exists and was not written by xbench"):
        run_build(out, mmlu_source, cache_path, langs="fr,de", formats="full,gt_option")
    assert (out / "fr_full" / "notes.txt").read_text() == "mine too"


def test_hendrycks_csv_and_single_file_sources(tmp_path, cache_path):
    folder = tmp_path / "hendrycks"
    for split, rows in (("test", MMLU_TEST), ("dev", MMLU_DEV)):
        (folder / split).mkdir(parents=True)
        for subject in sorted({r["subject"] for r in rows}):
            lines = []
            for r in rows:
                if r["subject"] == subject:
                    cells = [r["question"], *r["choices"], "ABCD"[r["answer"]]]
                    lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
            (folder / split / f"{subject}_{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "from_csv"
    report = run_build(out, folder, cache_path, langs="fr", formats="full")
    assert report.configs["en"] == {"test": 5, "dev": 2}
    rows = pq.read_table(out / "en" / "test-00000-of-00001.parquet").to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert by_id["elementary_mathematics/test/1"]["question"] == MMLU_TEST[1]["question"]
    assert by_id["high_school_geography/test/0"]["question"] == "  Which river flows through Paris? "
    assert by_id["elementary_mathematics/test/2"]["choices"] == ["6", "9", "4", "At noon"]
    single = write_jsonl(tmp_path / "only_test.jsonl", MMLU_TEST)
    report = run_build(tmp_path / "from_file", single, cache_path, langs="fr", formats="full")
    assert report.configs["fr_full"] == {"test": 5}


def test_bundled_sample_builds(tmp_path, cache_path):
    report = xbench.build("mmlu_mixup", out=tmp_path / "s", source="sample", translator="pseudo", cache=cache_path, langs="fr", formats="gt_option")
    assert report.configs["fr_gt_option"] == {"test": 40, "dev": 20}


def test_custom_engine_object_through_the_python_entry_point(tmp_path, mmlu_source, cache_path):
    class Shouting:
        name = "shout"

        def translate_batch(self, texts, source, target):
            return [t.upper() for t in texts]

    out = tmp_path / "custom"
    xbench.build("mmlu_mixup", out=out, source=str(mmlu_source), translator=[Shouting()], cache=cache_path, langs="de", formats="question")
    row = pq.read_table(out / "de_question" / "test-00000-of-00001.parquet").to_pylist()[0]
    assert row["question"] == "WHAT IS 2 + 2?" and row["translation"] == "shout"


def test_cais_snapshot_root_reads_all_once(tmp_path, cache_path):
    root = tmp_path / "snapshot"
    write_jsonl(root / "all" / "test-00000-of-00001.jsonl", MMLU_TEST)
    write_jsonl(root / "all" / "dev-00000-of-00001.jsonl", MMLU_DEV)
    write_jsonl(root / "elementary_mathematics" / "test-00000-of-00001.jsonl", [r for r in MMLU_TEST if r["subject"] == "elementary_mathematics"])
    write_jsonl(root / "elementary_mathematics" / "dev-00000-of-00001.jsonl", MMLU_DEV[:1])
    report = run_build(tmp_path / "o", root, cache_path, langs="fr", formats="full")
    assert report.configs["en"] == {"test": len(MMLU_TEST), "dev": len(MMLU_DEV)}
