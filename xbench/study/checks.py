"""Checks of a recipe that protect the user's files and time: names that become folders, setting values, YAML cycles.

Every name a recipe gives (a build, fine-tuning run, evaluation, probe or variant) becomes a
folder under the study's ``--out``; a name that climbs out of it (``../../mybuild``) would write,
and for some steps delete, outside the study folder. Evaluation settings are checked against
``EvalSettings`` itself, so ``limit: ten`` or ``limit=0`` is refused before any step runs, naming
the recipe key rather than a flag the user never gave.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import PurePosixPath
from typing import Any

from xbench.errors import InputError

SECTIONS = ("builds", "finetunes", "evaluations", "probes")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FLAG = re.compile(r"^--[a-z0-9-]+: ")

# The type of each evaluation setting a recipe may give (None: any); bool is never an int here.
EVAL_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "shots": (int,),
    "demos": (str,),
    "ids": (str,),
    "instruction": (str,),
    "strategy": (str,),
    "protocol": (str,),
    "split": (str,),
    "limit": (int, type(None)),
    "subjects": (list, type(None)),
    "max_new_tokens": (int, type(None)),
    "rouge_tokenizer": (str,),
    "batch_size": (int, str),
    "dtype": (str,),
    "tokenizer": (str, type(None)),
    "apply_chat_template": (bool,),
    "system_prompt": (str, type(None)),
    "tofu_template": (str,),
}


def check_acyclic(data: Any, where: str) -> None:
    """A YAML alias that refers to itself (``a: &x {b: *x}``) makes an endless mapping: refused, naming its key."""
    stack: list[tuple[Any, str, frozenset[int]]] = [(data, "", frozenset())]
    while stack:
        node, key, ancestors = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if id(node) in ancestors:
            raise InputError(f"{where}: {key or 'recipe'}: a YAML alias refers to itself (an endless value); write the value out")
        inner = ancestors | {id(node)}
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for child_key, child in items:
            path = f"{key}[{child_key}]" if isinstance(node, list) else (f"{key}.{child_key}" if key else str(child_key))
            stack.append((child, path, inner))


def check_names(data: dict[str, Any], where: str) -> None:
    """Every step and variant name is one folder name: letters, digits, ``_ - .``; no ``/`` or ``..``."""
    for section in SECTIONS:
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            _check_name(name, where, f"{section}.{name}")
            if section == "evaluations" and isinstance(entry, dict) and isinstance(entry.get("variants"), list):
                for index, variant in enumerate(entry["variants"]):
                    if isinstance(variant, dict) and "name" in variant:
                        _check_name(variant["name"], where, f"evaluations.{name}.variants[{index}].name")


def _check_name(name: Any, where: str, key: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InputError(f"{where}: {key}: {name!r} is not a valid name; it becomes a folder inside --out (letters, digits, '_', '-', '.'; no '/' or '..')")


def check_eval_settings(settings: dict[str, Any], where: str, prefix: str) -> None:
    """Each value has its type, and the values pass ``EvalSettings.checked()``; the error names the recipe key."""
    from xbench.runner.settings import EvalSettings

    for key, value in settings.items():
        kinds = EVAL_SETTING_TYPES.get(key)
        if kinds is None:
            continue
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise InputError(f"{where}: {prefix}{key}: expected {expected}, got {type(value).__name__} {value!r}")
        if key == "subjects" and value is not None and not all(isinstance(s, str) for s in value):
            raise InputError(f"{where}: {prefix}{key}: expected a list of subject names")
        if key == "batch_size" and (value != "auto" if isinstance(value, str) else value < 1):
            raise InputError(f"{where}: {prefix}{key}: a number of at least 1 or 'auto', got {value!r}")
    fields = {f.name for f in dataclasses.fields(EvalSettings)}
    try:
        EvalSettings(**{k: v for k, v in settings.items() if k in fields}).checked()
    except InputError as err:
        message = str(err)
        raise InputError(f"{where}: {prefix}{_setting_of(message, fields)}: {_FLAG.sub('', message)}") from None


def _setting_of(message: str, fields: set[str]) -> str:
    """``--max-new-tokens: ...`` -> ``max_new_tokens``: the recipe key a flag's message is about."""
    flag = _FLAG.match(message)
    name = flag.group(0)[2:-2].replace("-", "_") if flag else ""
    return name if name in fields else "settings"


def check_step_folder(relative: str, step_id: str) -> None:
    """A step's output folder is a relative path inside the study folder; never absolute, never through ``..``."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or ".." in path.parts or "\\" in relative:
        raise InputError(f"step {step_id}: its folder {relative!r} would lie outside --out; rename the recipe entry it comes from")
