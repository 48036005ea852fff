import pytest

from xbench.errors import InputError
from xbench.languages import LANGUAGES, get_language, parse_languages

STUDY_LANGUAGES = ["en", "fr", "de", "es", "it", "ms", "da", "fi", "no", "bn", "am", "ru", "zh", "he", "ar", "hi"]


def test_registry_has_the_16_study_languages_in_order():
    assert list(LANGUAGES) == STUDY_LANGUAGES
    assert all(lang.name and lang.script for lang in LANGUAGES.values())


def test_engine_specific_codes():
    assert get_language("zh").code_for("google") == "zh-CN"
    assert get_language("he").code_for("google") == "iw"
    assert get_language("fr").code_for("google") == "fr"
    assert get_language("es").code_for("apertium") == "spa"
    assert get_language("no").code_for("apertium") == "nob" and get_language("no").code_for("freedict") == "nor"


def test_unknown_code_lists_the_valid_ones():
    with pytest.raises(InputError) as err:
        parse_languages("fr,xx")
    message = str(err.value)
    assert message.startswith("--langs: unknown language code 'xx'; valid codes: en fr de")
    assert all(code in message for code in STUDY_LANGUAGES)


def test_parse_keeps_order_drops_repeats_and_expands_all():
    assert parse_languages("de, fr,de") == ["de", "fr"]
    assert parse_languages("all") == STUDY_LANGUAGES[1:]
