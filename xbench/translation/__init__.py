"""The translation layer: engines, the persistent cache and the translator that drives them."""

from xbench.translation.cache import TranslationCache, default_cache_path
from xbench.translation.engines import (
    ENGINE_NAMES,
    ApertiumEngine,
    DeepTranslatorEngine,
    Engine,
    MemoryEngine,
    PseudoEngine,
    create_engine,
    resolve_engines,
)
from xbench.translation.translator import LanguageStats, Outcome, Translator, pack_units

__all__ = [
    "ENGINE_NAMES",
    "ApertiumEngine",
    "DeepTranslatorEngine",
    "Engine",
    "LanguageStats",
    "MemoryEngine",
    "Outcome",
    "PseudoEngine",
    "TranslationCache",
    "Translator",
    "create_engine",
    "default_cache_path",
    "pack_units",
    "resolve_engines",
]
