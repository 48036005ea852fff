"""The language registry: the 16 languages of the study, with the code each engine needs.

Adding a language is one entry in ``_LANGUAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xbench.errors import InputError


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    native_name: str
    script: str
    # Engine-specific codes where they differ from ``code`` (Google wants zh-CN and iw).
    engine_codes: dict[str, str] = field(default_factory=dict)
    # Apertium uses three-letter codes in its mode names (eng-spa).
    apertium: str | None = None

    def code_for(self, engine: str) -> str:
        return self.engine_codes.get(engine, self.code)


_LANGUAGES = [
    Language("en", "English", "English", "Latn", apertium="eng"),
    Language("fr", "French", "Français", "Latn", apertium="fra"),
    Language("de", "German", "Deutsch", "Latn", apertium="deu"),
    Language("es", "Spanish", "Español", "Latn", apertium="spa"),
    Language("it", "Italian", "Italiano", "Latn", apertium="ita"),
    Language("ms", "Malay", "Bahasa Melayu", "Latn", apertium="msa"),
    Language("da", "Danish", "Dansk", "Latn", apertium="dan"),
    Language("fi", "Finnish", "Suomi", "Latn", apertium="fin"),
    Language("no", "Norwegian", "Norsk", "Latn", {"deepl": "nb", "microsoft": "nb"}, apertium="nob"),
    Language("bn", "Bengali", "বাংলা", "Beng", apertium="ben"),
    Language("am", "Amharic", "አማርኛ", "Ethi", apertium="amh"),
    Language("ru", "Russian", "Русский", "Cyrl", apertium="rus"),
    Language("zh", "Chinese (Simplified)", "中文", "Hans", {"google": "zh-CN", "mymemory": "zh-CN", "microsoft": "zh-Hans"}, apertium="zho"),
    Language("he", "Hebrew", "עברית", "Hebr", {"google": "iw", "mymemory": "he-IL"}, apertium="heb"),
    Language("ar", "Arabic", "العربية", "Arab", apertium="ara"),
    Language("hi", "Hindi", "हिन्दी", "Deva", apertium="hin"),
]

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in _LANGUAGES}
SOURCE_LANGUAGE = "en"
DEFAULT_POOL = ("en", "fr", "de", "es", "it")


def get_language(code: str) -> Language:
    try:
        return LANGUAGES[code]
    except KeyError:
        valid = " ".join(LANGUAGES)
        raise InputError(f"unknown language code {code!r}; valid codes: {valid}") from None


def parse_languages(spec: str | list[str] | tuple[str, ...], option: str = "--langs") -> list[str]:
    """Parse ``fr,de`` (or a list) into validated codes, in the given order, without repeats.

    ``all`` means every registered language except English.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    codes: list[str] = []
    for raw in items:
        code = raw.strip()
        if not code:
            continue
        if code == "all":
            codes.extend(c for c in LANGUAGES if c != SOURCE_LANGUAGE and c not in codes)
            continue
        try:
            get_language(code)
        except InputError as err:
            raise InputError(f"{option}: {err}") from None
        if code not in codes:
            codes.append(code)
    if not codes:
        raise InputError(f"{option}: no language given")
    return codes
