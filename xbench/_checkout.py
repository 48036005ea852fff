"""Run from a source checkout without installing: map ``xbench.cli``, ``xbench.builders``, ``xbench.cards``
and ``xbench.recipes`` onto the checkout's top-level folders, the way pyproject's ``package-dir`` does.

The finder is appended to ``sys.meta_path``, so an installed or editable copy of these packages is always
found first; it is registered only when ``pyproject.toml`` and the four folders sit beside the package.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path

SUBPACKAGES = {"xbench.builders": "builders", "xbench.cards": "cards", "xbench.cli": "cli", "xbench.recipes": "recipes"}


class CheckoutFinder(MetaPathFinder):
    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        folder = SUBPACKAGES.get(fullname)
        if folder is None:
            return None
        init = self.root / folder / "__init__.py"
        return spec_from_file_location(fullname, init, submodule_search_locations=[str(init.parent)])


def checkout_root(package_dir: Path) -> Path | None:
    root = package_dir.parent
    if (root / "pyproject.toml").is_file() and all((root / folder / "__init__.py").is_file() for folder in SUBPACKAGES.values()):
        return root
    return None


def install() -> None:
    root = checkout_root(Path(__file__).resolve().parent)
    if root is not None and not any(isinstance(finder, CheckoutFinder) for finder in sys.meta_path):
        sys.meta_path.append(CheckoutFinder(root))
