"""The deep-translator engines, with the web client replaced by a local stand-in (no network)."""

from typing import ClassVar

import deep_translator
import pytest
from deep_translator import exceptions as dt_errors

from xbench.errors import SegmentError, TransientEngineError
from xbench.translation import LanguageStats, TranslationCache, Translator, create_engine


class StandInGoogle:
    """Behaves like deep_translator.GoogleTranslator.translate on a packed request."""

    calls: ClassVar[list] = []
    script: ClassVar[list] = []  # exceptions or callables to apply to the next calls

    def __init__(self, source, target, **kwargs):
        self.source, self.target = source, target

    def translate(self, text):
        StandInGoogle.calls.append((self.source, self.target, text))
        if StandInGoogle.script:
            action = StandInGoogle.script.pop(0)
            if isinstance(action, Exception):
                raise action
            return action(text)
        return "\n".join(f"{self.target}:{line}" for line in text.split("\n"))


@pytest.fixture
def google(monkeypatch):
    StandInGoogle.calls, StandInGoogle.script = [], []
    monkeypatch.setattr(deep_translator, "GoogleTranslator", StandInGoogle)
    return create_engine("google")


def test_segments_are_packed_one_per_line_with_engine_language_codes(google):
    assert google.translate_batch(["one", "two"], "en", "zh") == ["zh-CN:one", "zh-CN:two"]
    assert StandInGoogle.calls == [("en", "zh-CN", "one\ntwo")]
    assert google.translate_batch(["x"], "en", "he") == ["iw:x"]


def test_rate_limit_is_transient_and_missing_translation_is_segment_level(google):
    StandInGoogle.script = [dt_errors.TooManyRequests()]
    with pytest.raises(TransientEngineError):
        google.translate_batch(["a"], "en", "fr")
    StandInGoogle.script = [dt_errors.TranslationNotFound("a")]
    with pytest.raises(SegmentError):
        google.translate_batch(["a"], "en", "fr")


def test_merged_lines_are_detected_and_resent_in_halves(google, tmp_path):
    merge = lambda text: text.replace("\n", " ")  # noqa: E731  (a web engine joining lines)
    StandInGoogle.script = [merge]
    translator = Translator([google], TranslationCache(tmp_path / "c.sqlite"), sleep=lambda s: None)
    stats = LanguageStats("fr")
    outcome = translator.translate(["first", "second", "third", "fourth"], "en", "fr", stats=stats)
    assert {t: v[0] for t, v in outcome.translations.items()} == {w: f"fr:{w}" for w in ["first", "second", "third", "fourth"]}
    assert [call[2] for call in StandInGoogle.calls] == ["first\nsecond\nthird\nfourth", "first\nsecond", "third\nfourth"]
    assert stats.requests == 3


def test_rate_limited_request_is_retried_then_succeeds(google, tmp_path):
    StandInGoogle.script = [dt_errors.TooManyRequests(), dt_errors.RequestError()]
    delays = []
    translator = Translator([google], TranslationCache(tmp_path / "c.sqlite"), sleep=delays.append)
    stats = LanguageStats("de")
    outcome = translator.translate(["hello"], "en", "de", stats=stats)
    assert outcome.translations["hello"] == ("de:hello", "google") and stats.retries == 2 and len(delays) == 2


def test_web_requests_get_a_timeout(monkeypatch):
    import deep_translator.google as google_module
    import requests

    seen = {}

    def fake_get(url, **kwargs):
        seen.update(kwargs)
        raise requests.exceptions.Timeout("stalled")

    monkeypatch.setattr(requests, "get", fake_get)
    engine = create_engine("google")  # installs the timeout on deep-translator's requests
    with pytest.raises(TransientEngineError, match="google: Timeout"):
        engine.translate_batch(["hello"], "en", "fr")
    assert seen["timeout"] == 60.0
    assert google_module.requests.exceptions is requests.exceptions
