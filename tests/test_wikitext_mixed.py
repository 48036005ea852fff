"""Mixed-language WikiText: units, spans, byte-for-byte identity with pool en, streaming subsets."""

import json

import pyarrow.parquet as pq
import pytest
from helpers import FakeEngine
from typer.testing import CliRunner

import xbench
from xbench.cli import app
from xbench.corpus import documents, read_index_file
from xbench.segmentation import split_document

WIKI = """ 
 = Valkyria Chronicles III = 
 
 Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場のヴァルキュリア3 , lit . Valkyria of the Battlefield 3 ) , commonly referred to as Valkyria Chronicles III outside Japan , is a tactical role @-@ playing video game developed by Sega and Media.Vision for the PlayStation Portable . Released in January 2011 in Japan , it is the third game in the Valkyria series . 
 
 = = Gameplay = = 
 
 As with previous <unk> Chronicles games , Valkyria Chronicles III is a tactical role @-@ playing game where players take control of a military unit and take part in missions against enemy forces . It costs 1 @,@ 500 yen ; the score was 9 @.@ 5 / 10 ! 
 
 = Tower Building of the Little Rock Arsenal = 
 
 The Tower Building of the Little Rock Arsenal , also known as U.S. Arsenal Building , is a building located in MacArthur Park in downtown Little Rock , Arkansas . Built in 1840 , it was part of Little Rock 's first military installation . 
 
 Kraków , Zürich and Москва were mentioned ; façade naïve café ? Yes . 
"""
UNITS = ["document", "sentence", "words1", "words3", "words8"]


@pytest.fixture
def wiki_dir(tmp_path):
    folder = tmp_path / "wikitext"
    folder.mkdir()
    (folder / "wiki.train.txt").write_text(WIKI, encoding="utf-8")
    return folder


def build(out, wiki_dir, cache, **options):
    translator = options.pop("translator", None) or FakeEngine()
    seed = options.pop("seed", 0)
    return xbench.build("wikitext_mixed", out=out, source=str(wiki_dir), translator=translator, cache=cache, seed=seed, options=options)


def rows(out, config):
    return pq.read_table(out / config / "train-00000-of-00001.parquet").to_pylist()


def test_line_and_article_documents():
    lines = WIKI.split("\n")
    assert len(list(documents(lines, "line"))) == 7
    articles = list(documents(lines, "article"))
    assert len(articles) == 2
    assert articles[0].startswith(" = Valkyria Chronicles III = ") and " = = Gameplay = = " in articles[0]
    assert articles[1].startswith(" = Tower Building")


@pytest.mark.parametrize("unit", UNITS)
def test_units_join_back_to_the_document(unit):
    for doc in documents(WIKI.split("\n"), "article"):
        layout = split_document(doc, unit)
        assert layout.join(layout.units) == doc


def test_words_units_have_k_words():
    layout = split_document("one two three four five , six seven", "words2")
    assert layout.units == ("one two", "three four", "five", "six seven")


@pytest.mark.parametrize("unit", UNITS)
def test_pool_en_gives_the_source_byte_for_byte(tmp_path, wiki_dir, cache_path, unit):
    out = tmp_path / unit
    engine = FakeEngine()
    build(out, wiki_dir, cache_path, unit=unit, pool="en", translator=engine, doc_unit="article")
    docs = list(documents(WIKI.split("\n"), "article"))
    produced = rows(out, unit)
    assert [r["text"] for r in produced] == docs
    assert engine.requests == [] and all(r["translated_fraction"] == 0 for r in produced)


def test_spans_languages_and_fraction(tmp_path, wiki_dir, cache_path):
    out = tmp_path / "mixed"
    report = build(out, wiki_dir, cache_path, unit="sentence,words4")
    assert list(report.configs) == ["sentence", "words4"] and report.configs["sentence"] == {"train": 7}
    docs = list(documents(WIKI.split("\n"), "line"))
    for config in ("sentence", "words4"):
        for row, doc in zip(rows(out, config), docs):
            layout = split_document(doc, config)
            assert len(row["spans"]) == len(layout.units)
            translated = 0
            for span, unit in zip(row["spans"], layout.units):
                shown = row["text"][span["start"] : span["end"]]
                core = unit.strip()
                expected = unit if span["lang"] == "en" else unit.replace(core, f"<{span['lang']}>{core}", 1)
                assert shown == expected  # engines see the stripped unit; its whitespace is kept
                assert span["lang"] in {"en", "fr", "de", "es", "it"}
                translated += len(unit) if span["lang"] != "en" else 0
            assert row["translated_fraction"] == pytest.approx(translated / sum(len(u) for u in layout.units))
            assert row["id"] == f"train/{row['source_index']}" and row["unit"] == config
    langs = {s["lang"] for r in rows(out, "words4") for s in r["spans"]}
    assert langs == {"en", "fr", "de", "es", "it"}


def test_same_seed_and_cache_identical_and_subsets_keep_each_documents_mix(tmp_path, wiki_dir, cache_path):
    build(tmp_path / "a", wiki_dir, cache_path, unit="words3")
    build(tmp_path / "b", wiki_dir, cache_path, unit="words3")
    a = (tmp_path / "a" / "words3" / "train-00000-of-00001.parquet").read_bytes()
    assert a == (tmp_path / "b" / "words3" / "train-00000-of-00001.parquet").read_bytes()
    build(tmp_path / "c", wiki_dir, cache_path, unit="words3", seed=1)
    assert a != (tmp_path / "c" / "words3" / "train-00000-of-00001.parquet").read_bytes()
    full = {r["source_index"]: r["text"] for r in rows(tmp_path / "a", "words3")}
    build(tmp_path / "first3", wiki_dir, cache_path, unit="words3", max_docs=3)
    assert {r["source_index"]: r["text"] for r in rows(tmp_path / "first3", "words3")} == {i: full[i] for i in range(3)}
    build(tmp_path / "sampled", wiki_dir, cache_path, unit="words3", sample=4)
    sampled = {r["source_index"]: r["text"] for r in rows(tmp_path / "sampled", "words3")}
    assert len(sampled) == 4 and all(full[i] == text for i, text in sampled.items())
    build(tmp_path / "sampled2", wiki_dir, cache_path, unit="words3", sample=4)
    assert {r["source_index"] for r in rows(tmp_path / "sampled2", "words3")} == set(sampled)


def test_index_file_subsets(tmp_path, wiki_dir, cache_path):
    study = tmp_path / "hp_index.json"
    study.write_text(json.dumps({"HP-related-index": [1, 5]}))
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"documents": [{"index": 2, "score": 3.1, "rule": "bm25"}]}))
    assert read_index_file(study) == {1, 5} and read_index_file(ours) == {2}
    build(tmp_path / "s", wiki_dir, cache_path, unit="sentence", subset=str(study))
    assert [r["source_index"] for r in rows(tmp_path / "s", "sentence")] == [1, 5]


def test_dry_run_counts_and_writes_nothing(tmp_path, wiki_dir, cache_path):
    engine = FakeEngine()
    report = xbench.build(
        "wikitext_mixed", out=tmp_path / "dry", source=str(wiki_dir), translator=engine, cache=cache_path, dry_run=True, options={"unit": "words8"}
    )
    assert engine.requests == [] and not (tmp_path / "dry").exists()
    assert report.configs == {"words8": {"train": 7}}
    assert sum(s.characters for s in report.languages.values()) > 0 and all(s.requests >= 1 for s in report.languages.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pool", "en,xx"], "--pool: unknown language code 'xx'"),
        (["--unit", "words0"], "--unit words0: k must be at least 1"),
        (["--unit", "paragraph"], "--unit: unknown unit 'paragraph'"),
        (["--doc-unit", "page"], "--doc-unit: unknown document unit 'page'"),
    ],
)
def test_bad_options_exit_2(tmp_path, wiki_dir, cache_path, args, message):
    result = CliRunner().invoke(
        app, ["build", "wikitext_mixed", "--source", str(wiki_dir), "--translator", "pseudo", "--out", str(tmp_path / "o"), "--cache", str(cache_path), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_empty_source_exits_2(tmp_path, cache_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n \n")
    result = CliRunner().invoke(
        app, ["build", "wikitext_mixed", "--source", str(empty), "--translator", "pseudo", "--out", str(tmp_path / "o"), "--cache", str(cache_path)]
    )
    assert result.exit_code == 2 and "no documents in the train split" in result.output
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.xbench-*"))


def test_folder_splits_follow_wikitext_file_names(tmp_path, cache_path):
    folder = tmp_path / "wikitext-2-raw"
    folder.mkdir()
    for split, name in (("train", "wiki.train.raw"), ("validation", "wiki.valid.raw"), ("test", "wiki.test.raw")):
        (folder / name).write_text(f" {split} document one . \n {split} document two . \n", encoding="utf-8")
    out = tmp_path / "o"
    xbench.build("wikitext_mixed", out=out, source=str(folder), translator="pseudo", cache=cache_path, splits="train,validation,test", options={"pool": "en"})
    for split in ("train", "validation", "test"):
        texts = [r["text"] for r in pq.read_table(out / "sentence" / f"{split}-00000-of-00001.parquet").to_pylist()]
        assert texts == [f" {split} document one . ", f" {split} document two . "]


def test_sample_draws_from_the_subset(tmp_path, wiki_dir, cache_path):
    index = tmp_path / "index.json"
    index.write_text(json.dumps([0, 2, 4, 6]))
    build(tmp_path / "s", wiki_dir, cache_path, unit="sentence", subset=str(index), sample=3)
    chosen = [r["source_index"] for r in rows(tmp_path / "s", "sentence")]
    assert len(chosen) == 3 and set(chosen) <= {0, 2, 4, 6}


def test_all_languages_writes_every_document_once_per_pool_language_with_the_mixed_translations(tmp_path, wiki_dir, cache_path):
    engine = FakeEngine()
    out = tmp_path / "o"
    build(out, wiki_dir, cache_path, translator=engine, unit="sentence", pool="en,fr,de", all_languages=True)
    mixed, every = rows(out, "sentence"), rows(out, "sentence_all")
    assert len(every) == 3 * len(mixed)
    assert [r["id"] for r in every[:3]] == [f"{mixed[0]['id']}/{lang}" for lang in ("en", "fr", "de")]
    for number, source in enumerate(mixed):
        versions = every[3 * number : 3 * number + 3]
        assert {r["source_index"] for r in versions} == {source["source_index"]}
        assert [{s["lang"] for s in r["spans"]} for r in versions] == [{"en"}, {"fr"}, {"de"}]
        # the mixed row's units are the same strings as the all-languages rows' units in that language
        for span in source["spans"]:
            same = versions[("en", "fr", "de").index(span["lang"])]
            assert source["text"][span["start"] : span["end"]] in same["text"]
    english = [r for r in every if r["id"].endswith("/en")]
    assert all(r["translated_fraction"] == 0.0 for r in english)
    requested = [unit for texts, _, lang in engine.requests for unit in texts]
    assert len(requested) == len(set(zip(requested, [lang for texts, _, lang in engine.requests for _ in texts])))  # each unit translated once per language
