"""The language registry: the 16 languages of the study, with the code each engine needs.

Adding a language is one entry in ``_LANGUAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xbench.choices import parse_choices
from xbench.errors import InputError


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    native_name: str
    script: str
    # Engine-specific codes where they differ from the default (Google wants zh-CN and iw).
    engine_codes: dict[str, str] = field(default_factory=dict)
    # ISO 639-3 code: Apertium modes (eng-spa) and freedict files (freedict-eng-fra) use it.
    iso3: str = ""
    # FLoRes-200 code (fra_Latn): NLLB-200 language tokens and FLoRes file names use it.
    flores: str = ""

    def code_for(self, engine: str) -> str:
        default = self.iso3 if engine in ISO3_ENGINES else self.flores if engine in FLORES_ENGINES else self.code
        return self.engine_codes.get(engine, default)


ISO3_ENGINES = ("apertium", "freedict")
FLORES_ENGINES = ("nllb",)


_LANGUAGES = [
    Language("en", "English", "English", "Latn", {"mymemory": "en-GB"}, iso3="eng", flores="eng_Latn"),
    Language("fr", "French", "Français", "Latn", {"mymemory": "fr-FR", "baidu": "fra"}, iso3="fra", flores="fra_Latn"),
    Language("de", "German", "Deutsch", "Latn", {"mymemory": "de-DE"}, iso3="deu", flores="deu_Latn"),
    Language("es", "Spanish", "Español", "Latn", {"mymemory": "es-ES", "baidu": "spa"}, iso3="spa", flores="spa_Latn"),
    Language("it", "Italian", "Italiano", "Latn", {"mymemory": "it-IT"}, iso3="ita", flores="ita_Latn"),
    Language("ms", "Malay", "Bahasa Melayu", "Latn", {"mymemory": "ms-MY"}, iso3="msa", flores="zsm_Latn"),
    Language("da", "Danish", "Dansk", "Latn", {"mymemory": "da-DK", "baidu": "dan"}, iso3="dan", flores="dan_Latn"),
    Language("fi", "Finnish", "Suomi", "Latn", {"mymemory": "fi-FI", "baidu": "fin"}, iso3="fin", flores="fin_Latn"),
    Language("no", "Norwegian", "Norsk", "Latn", {"deepl": "nb", "microsoft": "nb", "mymemory": "nb-NO", "apertium": "nob"}, iso3="nor", flores="nob_Latn"),
    Language("bn", "Bengali", "বাংলা", "Beng", {"mymemory": "bn-IN"}, iso3="ben", flores="ben_Beng"),
    Language("am", "Amharic", "አማርኛ", "Ethi", {"mymemory": "am-ET"}, iso3="amh", flores="amh_Ethi"),
    Language("ru", "Russian", "Русский", "Cyrl", {"mymemory": "ru-RU"}, iso3="rus", flores="rus_Cyrl"),
    Language(
        "zh",
        "Chinese (Simplified)",
        "中文",
        "Hans",
        {"google": "zh-CN", "chatgpt": "zh-CN", "yandex": "zh-CN", "mymemory": "zh-CN", "microsoft": "zh-Hans"},
        iso3="zho",
        flores="zho_Hans",
    ),
    Language("he", "Hebrew", "עברית", "Hebr", {"google": "iw", "chatgpt": "iw", "yandex": "iw", "mymemory": "he-IL"}, iso3="heb", flores="heb_Hebr"),
    Language("ar", "Arabic", "العربية", "Arab", {"mymemory": "ar-SA", "baidu": "ara"}, iso3="ara", flores="arb_Arab"),
    Language("hi", "Hindi", "हिन्दी", "Deva", {"mymemory": "hi-IN"}, iso3="hin", flores="hin_Deva"),
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

    def check(code: str) -> None:
        try:
            get_language(code)
        except InputError as err:
            raise InputError(f"{option}: {err}") from None

    return parse_choices(spec, check, option=option, what="language", every=[c for c in LANGUAGES if c != SOURCE_LANGUAGE])
