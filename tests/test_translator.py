import math

import pytest
from helpers import FakeEngine

from xbench.errors import InputError, TranslationFailed
from xbench.translation import (
    LanguageStats,
    MemoryEngine,
    PseudoEngine,
    TranslationCache,
    Translator,
    pack_units,
    resolve_engines,
)


def make(engines, cache_path, **kwargs):
    cache = TranslationCache(cache_path)
    return Translator(engines, cache, sleep=kwargs.pop("sleep", lambda s: None), **kwargs), cache


def test_each_unique_text_is_translated_once(fake_engine, cache_path):
    translator, _ = make([fake_engine], cache_path)
    outcome = translator.translate(["cat", "dog", "cat", "dog", "cow"], "en", "fr")
    assert sorted(fake_engine.units) == ["cat", "cow", "dog"]
    assert outcome.translations["cat"] == ("<fr>cat", "fake")
    assert outcome.failed == {}


def test_second_run_is_served_from_the_cache(fake_engine, cache_path):
    translator, _ = make([fake_engine], cache_path)
    translator.translate(["cat", "dog"], "en", "fr")
    again = FakeEngine()
    translator2, _ = make([again], cache_path)
    stats = LanguageStats("fr")
    outcome = translator2.translate(["cat", "dog"], "en", "fr", stats=stats)
    assert again.requests == []
    assert stats.cache_hits == 2 and stats.requests == 0
    assert outcome.translations["dog"] == ("<fr>dog", "fake")


def test_packing_respects_the_limit_and_verifies_counts(cache_path):
    engine = FakeEngine(max_chars=50)
    translator, _ = make([engine], cache_path)
    texts = [f"segment number {i:02d}" for i in range(40)]  # 17 chars each
    stats = LanguageStats("fr")
    outcome = translator.translate(texts, "en", "fr", stats=stats)
    assert len(outcome.translations) == 40
    assert all(len(req) <= 2 for req, _, _ in engine.requests)  # two units + separator fit in 50
    assert stats.requests == len(engine.requests) == 20


def test_pack_units_fills_requests_greedily():
    units = ["a" * 10] * 10
    packs = pack_units(units, max_chars=32)  # 10 + 1 + 10 + 1 + 10 = 32
    assert [len(p) for p in packs] == [3, 3, 3, 1]
    assert pack_units(units, max_chars=1000, max_segments=4) == [units[:4], units[4:8], units[8:]]


def test_mismatched_pack_is_split_down_to_single_segments(cache_path):
    engine = FakeEngine(merge_packs=True)
    translator, _ = make([engine], cache_path)
    outcome = translator.translate([f"t{i}" for i in range(8)], "en", "de")
    assert outcome.failed == {}
    assert {t: v[0] for t, v in outcome.translations.items()} == {f"t{i}": f"<de>t{i}" for i in range(8)}
    assert [len(req) for req, _, _ in engine.requests] == [8, 4, 2, 1, 1, 2, 1, 1, 4, 2, 1, 1, 2, 1, 1]


def test_transient_failures_are_retried_with_exponential_backoff(cache_path):
    engine = FakeEngine(transient=3)
    delays = []
    translator, _ = make([engine], cache_path, sleep=delays.append, backoff=0.5)
    stats = LanguageStats("fr")
    outcome = translator.translate(["cat"], "en", "fr", stats=stats)
    assert outcome.translations["cat"][0] == "<fr>cat"
    assert stats.retries == 3
    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        base = 0.5 * 2**attempt
        assert base <= delay <= 2 * base  # jitter adds up to 100%


def test_giving_up_after_max_retries_fails_the_segments(cache_path):
    engine = FakeEngine(transient=100)
    translator, _ = make([engine], cache_path, max_retries=2)
    outcome = translator.translate(["cat"], "en", "fr")
    assert "gave up after 2 retries" in outcome.failed["cat"]
    assert len(engine.requests) == 3


def test_failure_is_never_replaced_by_the_english_text(cache_path):
    engine = FakeEngine(fail_texts={"bad one"})
    translator, cache = make([engine], cache_path)
    with pytest.raises(TranslationFailed) as err:
        translator.translate_or_raise(["good", "bad one"], "en", "fr")
    assert str(err.value).startswith("1 segment(s) could not be translated en->fr: 'bad one' (fake: cannot translate 'bad one')")
    assert "--allow-untranslated" in str(err.value)
    assert cache.lookup("fake", "en", "fr", ["good", "bad one"]) == {"good": "<fr>good"}


def test_allow_untranslated_returns_the_failures(cache_path):
    translator, _ = make([FakeEngine(fail_texts={"bad"})], cache_path)
    outcome = translator.translate_or_raise(["bad", "ok"], "en", "fr", allow_untranslated=True)
    assert "bad" in outcome.failed and "bad" not in outcome.translations


def test_chain_falls_through_to_the_next_engine(cache_path):
    first = FakeEngine("first", fail_texts={"hard"})
    second = FakeEngine("second")
    translator, _ = make([first, second], cache_path)
    outcome = translator.translate(["easy", "hard"], "en", "fr")
    assert outcome.translations == {"easy": ("<fr>easy", "first"), "hard": ("<fr>hard", "second")}


def test_memory_answers_from_any_engine_and_keeps_its_name(cache_path):
    cache = TranslationCache(cache_path)
    cache.store("curated", "en", "fr", [("Gryffindor", "Gryffondor")])
    fallback = FakeEngine("google")
    translator = Translator([MemoryEngine(), fallback], cache)
    outcome = translator.translate(["Gryffindor", "Owl"], "en", "fr")
    assert outcome.translations == {"Gryffindor": ("Gryffondor", "curated"), "Owl": ("<fr>Owl", "google")}
    assert fallback.units == ["Owl"]


def test_memory_alone_names_how_many_segments_are_missing(cache_path):
    cache = TranslationCache(cache_path)
    cache.store("google", "en", "fr", [("a", "b")])
    translator = Translator(resolve_engines("memory"), cache)
    with pytest.raises(TranslationFailed, match=r"^2 segment\(s\) could not be translated en->fr: 'x' \(memory: no entry for en->fr\)"):
        translator.translate_or_raise(["a", "x", "y"], "en", "fr")


def test_multi_line_segments_keep_their_layout(fake_engine, cache_path):
    translator, _ = make([fake_engine], cache_path)
    text = "  Passage one.\n\nQuestion?  "
    outcome = translator.translate([text], "en", "fr")
    assert outcome.translations[text][0] == "  <fr>Passage one.\n\n<fr>Question?  "
    assert sorted(fake_engine.units) == ["Passage one.", "Question?"]


def test_segment_longer_than_the_limit_is_split_and_rejoined(cache_path):
    engine = FakeEngine(max_chars=60)
    translator, _ = make([engine], cache_path)
    text = " ".join(f"Sentence {i} is here." for i in range(12))  # 12 * 21 chars
    outcome = translator.translate([text], "en", "fr")
    result = outcome.translations[text][0]
    assert result.replace("<fr>", "") == text
    assert all(len(unit) <= 60 for unit in engine.units)


def test_identical_lines_inside_different_segments_are_sent_once(fake_engine, cache_path):
    translator, _ = make([fake_engine], cache_path)
    translator.translate(["Intro.\nFirst?", "Intro.\nSecond?"], "en", "fr")
    assert sorted(fake_engine.units) == ["First?", "Intro.", "Second?"]


def test_blank_and_same_language_texts_pass_through(fake_engine, cache_path):
    translator, _ = make([fake_engine], cache_path)
    assert translator.translate(["", "  "], "en", "fr").translations == {"": ("", ""), "  ": ("  ", "")}
    assert translator.translate(["cat"], "en", "en").translations == {"cat": ("cat", "")}
    assert fake_engine.requests == []


def test_dry_run_counts_requests_without_translating(cache_path):
    engine = FakeEngine(max_chars=5000)
    translator, _ = make([engine], cache_path)
    texts = [f"question {i} " + "x" * 90 for i in range(500)]
    stats = LanguageStats("fr")
    translator.translate(texts, "en", "fr", stats=stats, dry_run=True)
    assert engine.requests == []
    characters = sum(len(t.strip()) for t in texts)
    assert stats.segments == 500 and stats.characters == sum(len(t) for t in texts)
    assert stats.requests == math.ceil((characters + 499) / 5000)


def test_pseudo_engine_is_deterministic():
    assert PseudoEngine().translate_batch(["a", "b c"], "en", "zh") == ["[zh] a", "[zh] b c"]


def test_resolve_engines_accepts_names_and_objects(cache_path):
    custom = FakeEngine("mine")
    engines = resolve_engines(["memory", custom, "pseudo"])
    assert [e.name for e in engines] == ["memory", "mine", "pseudo"]
    with pytest.raises(InputError, match="unknown engine 'babel'"):
        resolve_engines("memory,babel")
    with pytest.raises(InputError, match="set the environment variable"):
        resolve_engines("deepl")


def test_key_from_environment_is_used_but_not_in_the_name(monkeypatch):
    monkeypatch.setenv("DEEPL_API_KEY", "secret-key-123")
    (engine,) = resolve_engines("deepl")
    assert engine.name == "deepl" and "secret-key-123" in engine._kwargs.values()
