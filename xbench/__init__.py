"""xbench: mixed-language benchmark builder and runner for the crosslingual knowledge barrier."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from xbench import _checkout
from xbench.errors import InputError, TranslationFailed, XbenchError

_checkout.install()

# Imported on first use: the build pipeline pulls in `datasets`, which `xbench --help` does not need.
_LAZY = {"BuildReport": "xbench.build_report", "build": "xbench.building", "Engine": "xbench.translation", "TranslationCache": "xbench.translation"}

__all__ = ["BuildReport", "Engine", "InputError", "TranslationCache", "TranslationFailed", "XbenchError", "__version__", "build"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xbench' has no attribute {name!r}")
