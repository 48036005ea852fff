"""The freedict word engine: on a dictd dictionary written here, and on Debian's where installed."""

import gzip
from pathlib import Path

import pytest

from xbench.errors import EngineError, SegmentError
from xbench.translation import LanguageStats, TranslationCache, Translator
from xbench.translation.freedict import DICT_DIR, FreedictEngine, load_dictionary

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ENTRIES = [
    ("cat", "cat /kæt/\n1. mégère, peau de vache\n2. chat\n"),
    ("dog", "dog /dɒɡ/\nchien <masc>\n     Note: un animal\n"),
    ("king", "king /kɪŋ/\n1. dame\n2. roi\n"),
    ("king", "king /kɪŋ/\nroi [hist.]\n"),
]


def _b64(number: int) -> str:
    digits = ""
    while True:
        digits = B64[number % 64] + digits
        number //= 64
        if not number:
            return digits


@pytest.fixture
def dict_dir(tmp_path) -> Path:
    data, index, offset = b"", [], 0
    for headword, body in ENTRIES:
        raw = body.encode("utf-8")
        index.append(f"{headword}\t{_b64(offset)}\t{_b64(len(raw))}")
        data += raw
        offset += len(raw)
    (tmp_path / "freedict-eng-fra.index").write_text("00databaseshort\tA\tB\n" + "\n".join(index) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "freedict-eng-fra.dict.dz", "wb") as handle:
        handle.write(data)
    load_dictionary.cache_clear()
    return tmp_path


def test_words_are_looked_up_with_the_documented_heuristic(dict_dir):
    engine = FreedictEngine(dict_dir)
    assert engine.translate_batch(["cat", "Dog", "king", "1952", "@-@"], "en", "fr") == ["chat", "Chien", "roi", "1952", "@-@"]


def test_longer_segments_are_refused_and_unknown_words_reported(dict_dir):
    engine = FreedictEngine(dict_dir)
    with pytest.raises(EngineError, match="freedict translates single words only, got 'the cat'"):
        engine.translate_batch(["the cat"], "en", "fr")
    with pytest.raises(SegmentError, match="'zebra' is not in the en->fr dictionary"):
        engine.translate_batch(["zebra"], "en", "fr")
    with pytest.raises(EngineError, match="no freedict-eng-deu dictionary"):
        engine.translate_batch(["cat"], "en", "de")


def test_through_the_translator_unknown_words_fail_alone(dict_dir, tmp_path):
    translator = Translator([FreedictEngine(dict_dir)], TranslationCache(tmp_path / "c.sqlite"))
    outcome = translator.translate(["cat", "zebra", "dog", "king"], "en", "fr", stats=LanguageStats("fr"))
    assert {t: v[0] for t, v in outcome.translations.items()} == {"cat": "chat", "dog": "chien", "king": "roi"}
    assert list(outcome.failed) == ["zebra"]


@pytest.mark.skipif(not (DICT_DIR / "freedict-eng-fra.index").is_file(), reason="apt-get install dict-freedict-eng-fra")
def test_debian_dictionary():
    load_dictionary.cache_clear()
    assert FreedictEngine().translate_batch(["house", "war", "king"], "en", "fr") == ["maison", "guerre", "roi"]
