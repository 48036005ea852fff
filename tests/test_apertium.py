"""Real offline MT with Debian's apertium (installed by .ci/run); skipped where it is missing."""

import pytest

from xbench.translation import ApertiumEngine, LanguageStats, TranslationCache, Translator

engine = ApertiumEngine()
pytestmark = pytest.mark.skipif("eng-spa" not in engine.available_modes(), reason="apt-get install apertium apertium-eng-spa")


def test_batch_translates_one_segment_per_line():
    out = engine.translate_batch(["The cat is on the table.", "Hello world.", "What is 2 + 2?"], "en", "es")
    assert out == ["El gato es en la mesa.", "Hola Mundo.", "Qué es 2 + 2?"]


def test_through_the_translator_with_multi_line_segments(tmp_path):
    translator = Translator([engine], TranslationCache(tmp_path / "c.sqlite"))
    stats = LanguageStats("es")
    text = "The cat is on the table.\n\nHello world."
    outcome = translator.translate([text, "Hello world."], "en", "es", stats=stats)
    assert outcome.translations[text] == ("El gato es en la mesa.\n\nHola Mundo.", "apertium")
    assert stats.requests == 1  # both segments' units went in one process


def test_missing_mode_is_a_clear_error():
    with pytest.raises(Exception, match="apertium has no eng-fin mode installed"):
        engine.translate_batch(["cat"], "en", "fi")
