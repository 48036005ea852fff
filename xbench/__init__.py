"""xbench: mixed-language benchmark builder and runner for the crosslingual knowledge barrier."""

__version__ = "0.1.0"

from xbench.errors import InputError, TranslationFailed, XbenchError  # noqa: E402
from xbench.pipeline import BuildReport, build  # noqa: E402
from xbench.translation import Engine, TranslationCache  # noqa: E402

__all__ = ["BuildReport", "Engine", "InputError", "TranslationCache", "TranslationFailed", "XbenchError", "__version__", "build"]
