import json
import re
import sqlite3

import pytest

from xbench.errors import InputError
from xbench.translation import TranslationCache


def test_store_and_lookup_by_engine(cache_path):
    with TranslationCache(cache_path) as cache:
        cache.store("google", "en", "fr", [("cat", "chat"), ("dog", "chien")])
        assert cache.lookup("google", "en", "fr", ["cat", "dog", "bird"]) == {"cat": "chat", "dog": "chien"}
        assert cache.lookup("deepl", "en", "fr", ["cat"]) == {}
        assert cache.lookup("google", "en", "de", ["cat"]) == {}


def test_persistent_and_in_wal_mode(cache_path):
    with TranslationCache(cache_path) as cache:
        cache.store("google", "en", "fr", [("cat", "chat")])
    with TranslationCache(cache_path) as cache:
        assert cache.lookup("google", "en", "fr", ["cat"]) == {"cat": "chat"}
    assert sqlite3.connect(cache_path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_lookup_any_takes_the_earliest_entry_and_reports_its_engine(cache_path):
    with TranslationCache(cache_path) as cache:
        cache.store("curated", "en", "fr", [("cat", "chat (curated)")])
        cache.store("google", "en", "fr", [("cat", "chat (google)"), ("dog", "chien")])
        assert cache.lookup_any("en", "fr", ["cat", "dog", "cow"]) == {"cat": ("chat (curated)", "curated"), "dog": ("chien", "google")}


def test_existing_entries_are_kept(cache_path):
    with TranslationCache(cache_path) as cache:
        cache.store("google", "en", "fr", [("cat", "chat")])
        assert cache.store("google", "en", "fr", [("cat", "minou")]) == 0
        assert cache.lookup("google", "en", "fr", ["cat"]) == {"cat": "chat"}


def test_lookup_of_many_texts_spans_chunks(cache_path):
    texts = [f"sentence {i}" for i in range(1234)]
    with TranslationCache(cache_path) as cache:
        cache.store("x", "en", "de", [(t, t.upper()) for t in texts])
        assert len(cache.lookup("x", "en", "de", texts)) == 1234


def test_import_export_round_trip(cache_path, tmp_path):
    memory = tmp_path / "tm.jsonl"
    entries = [
        {"source_lang": "en", "target_lang": "fr", "source": "Line one\nline two", "target": "Ligne un\nligne deux", "engine": "human"},
        {"source_lang": "en", "target_lang": "de", "source": "cat", "target": "Katze", "engine": "google"},
    ]
    memory.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    with TranslationCache(cache_path) as cache:
        assert cache.import_jsonl(memory) == 2
        assert cache.import_jsonl(memory) == 0
        out = tmp_path / "out.jsonl"
        assert cache.export_jsonl(out) == 2
        assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == entries
        assert cache.export_jsonl(out, target_lang="de") == 1


def test_import_with_engine_override(cache_path, tmp_path):
    memory = tmp_path / "tm.jsonl"
    memory.write_text(json.dumps({"source_lang": "en", "target_lang": "fr", "source": "a", "target": "b"}) + "\n")
    with TranslationCache(cache_path) as cache:
        cache.import_jsonl(memory, engine="curated")
        assert cache.lookup_any("en", "fr", ["a"]) == {"a": ("b", "curated")}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "tm.jsonl: line 2: invalid JSON"),
        ('{"source_lang": "en", "target_lang": "fr", "source": "a", "engine": "x"}', "tm.jsonl: line 2: missing field(s) target"),
        ('{"source_lang": "en", "target_lang": "fr", "source": 3, "target": "b", "engine": "x"}', "tm.jsonl: line 2: field(s) source must be strings"),
    ],
)
def test_bad_memory_lines_are_named(cache_path, tmp_path, line, message):
    memory = tmp_path / "tm.jsonl"
    good = json.dumps({"source_lang": "en", "target_lang": "fr", "source": "a", "target": "b", "engine": "x"})
    memory.write_text(good + "\n" + line + "\n")
    with TranslationCache(cache_path) as cache:
        with pytest.raises(InputError, match=re.escape(message)):
            cache.import_jsonl(memory)
        assert len(cache) == 0  # a bad file imports nothing, not even its good lines


def test_a_file_that_is_not_a_cache_is_refused(tmp_path):
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable translation cache"):
        TranslationCache(bogus)


def test_preferred_engines_win_over_earlier_entries(cache_path):
    with TranslationCache(cache_path) as cache:
        cache.store("google", "en", "fr", [("Hufflepuff", "Hufflepuff")])
        cache.store("curated", "en", "fr", [("Hufflepuff", "Poufsouffle")])
        assert cache.lookup_any("en", "fr", ["Hufflepuff"]) == {"Hufflepuff": ("Hufflepuff", "google")}
        assert cache.lookup_any("en", "fr", ["Hufflepuff"], prefer=("curated",)) == {"Hufflepuff": ("Poufsouffle", "curated")}
