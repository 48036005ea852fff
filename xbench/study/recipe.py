"""Study recipes: one YAML file per experiment of the study, validated against a schema.

A recipe names the builds, fine-tuning runs, evaluations and probes of one figure or table,
the figure it draws, and the paper's published values where the paper (or its official code)
gives numbers. ``key=value`` overrides edit the loaded recipe before validation, as torchtune's
configs do.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xbench.errors import InputError
from xbench.study.checks import check_acyclic, check_eval_settings, check_names

BASE = "base"  # in an evaluation's models: the recipe's model itself, not fine-tuned
PROBE_KINDS = ("mt", "embed")
FIGURE_KINDS = ("bars", "table")
RESULT_COLUMNS = ("evaluation", "variant", "model", "training", "config", "language", "format", "metric")

# key -> (required, type or None for any). Nested mappings are checked by their own schema.
_TOP = {
    "name": (True, str),
    "title": (True, str),
    "paper": (True, dict),
    "notes": (False, str),
    "models": (True, list),
    "builds": (False, dict),
    "finetunes": (False, dict),
    "evaluations": (False, dict),
    "probes": (False, dict),
    "figure": (True, dict),
    "published": (False, list),
    "smoke": (False, dict),
}
_PAPER = {"figures": (True, list), "section": (True, str), "source": (False, str)}
_BUILD = {
    "dataset": (True, str),
    "langs": (False, list),
    "formats": (False, list),
    "translator": (False, str),
    "source": (False, str),
    "splits": (False, list),
    "seed": (False, int),
    "mixup_pool": (False, list),
    "options": (False, dict),
}
BUILD_OPTIONS = ("source_config", "translate_answers", "units", "doc_unit", "pool", "max_docs", "sample", "subset", "all_languages")
_FINETUNE = {"data": (True, str), "config": (True, str), "settings": (False, dict)}
_EVALUATION = {"data": (True, str), "configs": (True, list), "models": (False, list), "settings": (False, dict), "variants": (False, list)}
EVAL_SETTINGS = (
    "shots",
    "demos",
    "ids",
    "instruction",
    "strategy",
    "protocol",
    "split",
    "limit",
    "subjects",
    "max_new_tokens",
    "rouge_tokenizer",
    "batch_size",
    "dtype",
    "tokenizer",
    "apply_chat_template",
    "system_prompt",
    "tofu_template",
)
_VARIANT = {"name": (True, str), "settings": (False, dict), "configs": (False, list)}
_PROBE = {"kind": (True, str), "models": (False, list), "settings": (False, dict)}
PROBE_SETTINGS = {
    "mt": ("testset", "directions", "engines", "comet_model", "max_new_tokens"),
    "embed": ("source", "docs", "p", "pool", "translator", "seed"),
}
_FIGURE = {
    "kind": (True, str),
    "x": (True, str),
    "hue": (False, str),
    "panel": (False, str),
    "metric": (True, str),
    "chance": (False, float),
    "ylabel": (True, str),
    "title": (False, str),
    "average": (False, list),
    "where": (False, dict),
}
_PUBLISHED = {"figure": (True, str), "value": (True, float), "where": (True, dict), "source": (False, str)}
_SMOKE = {"builds": (False, dict), "finetunes": (False, dict), "evaluations": (False, dict), "probes": (False, dict), "notes": (False, str)}


@dataclass
class Recipe:
    """A validated recipe; ``data`` is the mapping read from the file, with overrides applied."""

    name: str
    path: str
    data: dict[str, Any]
    overrides: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.data["title"]

    @property
    def figures(self) -> list[str]:
        return list(self.data["paper"]["figures"])

    def section(self, key: str) -> dict[str, dict[str, Any]]:
        return self.data.get(key) or {}


def recipe_folder() -> Path:
    return Path(str(resources.files("xbench.recipes")))


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key that orders digit runs by value: fig2 before fig17, tb3 before tb8."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def recipe_names() -> list[str]:
    """The bundled recipes in natural order (fig2, fig3, ..., fig17, fig18, tb1, ...)."""
    return sorted((p.stem for p in recipe_folder().glob("*.yaml")), key=_natural_key)


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """A shipped recipe by name (``fig7``) or a YAML file path, with ``key=value`` overrides applied."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipe_folder() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise InputError(f"unknown recipe {name_or_path!r}; choose from {', '.join(recipe_names())} or give a .yaml path")
    data = _read_yaml(path)
    data = apply_overrides(data, overrides or [], str(path))
    validate(data, str(path))
    return Recipe(data["name"], str(path), data, list(overrides or []))


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot read ({type(err).__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', None) or type(err).__name__})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe is a YAML mapping")
    check_acyclic(data, str(path))
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], where: str) -> dict[str, Any]:
    """``evaluations.hp.settings.limit=20``: set a dotted key to a YAML-parsed value."""
    import yaml

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"override {item!r}: expected KEY=VALUE, e.g. evaluations.hp.settings.limit=20")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InputError(f"override {item!r}: {part!r} in {where} is not a mapping")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise InputError(f"override {item!r}: value is not valid YAML") from None
    return data


def validate(data: dict[str, Any], where: str) -> None:
    """Raise ``InputError`` naming the file and the key of the first problem."""
    _check(data, _TOP, where, "")
    name = Path(where).stem
    if data["name"] != name and Path(where).parent == recipe_folder():
        raise InputError(f"{where}: name: {data['name']!r} differs from the file name {name!r}")
    check_names(data, where)
    _check(data["paper"], _PAPER, where, "paper.")
    if not data["models"] or not all(isinstance(m, str) and m for m in data["models"]):
        raise InputError(f"{where}: models: a non-empty list of model ids")
    builds = data.get("builds") or {}
    finetunes = data.get("finetunes") or {}
    for name, build in builds.items():
        _check(build, _BUILD, where, f"builds.{name}.")
        for key in build.get("options") or {}:
            if key not in BUILD_OPTIONS:
                raise InputError(f"{where}: builds.{name}.options.{key}: unknown option; known: {', '.join(BUILD_OPTIONS)}")
    for name, run in finetunes.items():
        _check(run, _FINETUNE, where, f"finetunes.{name}.")
        if run["data"] not in builds:
            raise InputError(f"{where}: finetunes.{name}.data: no build named {run['data']!r}")
    evaluations = data.get("evaluations") or {}
    probes = data.get("probes") or {}
    if not evaluations and not probes:
        raise InputError(f"{where}: evaluations: a recipe needs at least one evaluation or probe")
    for name, ev in evaluations.items():
        _check(ev, _EVALUATION, where, f"evaluations.{name}.")
        if ev["data"] not in builds:
            raise InputError(f"{where}: evaluations.{name}.data: no build named {ev['data']!r}")
        for model in ev.get("models") or [BASE]:
            if model != BASE and model not in finetunes:
                raise InputError(f"{where}: evaluations.{name}.models: {model!r} is neither {BASE!r} nor a fine-tuning run")
        _check_settings(ev.get("settings") or {}, EVAL_SETTINGS, where, f"evaluations.{name}.settings.")
        check_eval_settings(ev.get("settings") or {}, where, f"evaluations.{name}.settings.")
        seen = set()
        for index, variant in enumerate(ev.get("variants") or []):
            if not isinstance(variant, dict):
                raise InputError(f"{where}: evaluations.{name}.variants[{index}]: expected a mapping")
            _check(variant, _VARIANT, where, f"evaluations.{name}.variants[{index}].")
            if variant["name"] in seen:
                raise InputError(f"{where}: evaluations.{name}.variants[{index}].name: {variant['name']!r} appears twice")
            seen.add(variant["name"])
            _check_settings(variant.get("settings") or {}, EVAL_SETTINGS, where, f"evaluations.{name}.variants[{index}].settings.")
            check_eval_settings(variant.get("settings") or {}, where, f"evaluations.{name}.variants[{index}].settings.")
    for name, probe in probes.items():
        _check(probe, _PROBE, where, f"probes.{name}.")
        if probe["kind"] not in PROBE_KINDS:
            raise InputError(f"{where}: probes.{name}.kind: {probe['kind']!r}; choose from {', '.join(PROBE_KINDS)}")
        for model in probe.get("models") or [BASE]:
            if model != BASE and model not in finetunes:
                raise InputError(f"{where}: probes.{name}.models: {model!r} is neither {BASE!r} nor a fine-tuning run")
        _check_settings(probe.get("settings") or {}, PROBE_SETTINGS[probe["kind"]], where, f"probes.{name}.settings.")
    figure = data["figure"]
    _check(figure, _FIGURE, where, "figure.")
    if figure["kind"] not in FIGURE_KINDS:
        raise InputError(f"{where}: figure.kind: {figure['kind']!r}; choose from {', '.join(FIGURE_KINDS)}")
    for key in ("x", "hue", "panel"):
        if key in figure and figure[key] not in RESULT_COLUMNS:
            raise InputError(f"{where}: figure.{key}: {figure[key]!r}; choose from {', '.join(RESULT_COLUMNS)}")
    for key, values in (figure.get("where") or {}).items():
        if key not in RESULT_COLUMNS or not isinstance(values, list):
            raise InputError(f"{where}: figure.where.{key}: a column ({', '.join(RESULT_COLUMNS)}) and a list of values")
    for index, entry in enumerate(data.get("published") or []):
        if not isinstance(entry, dict):
            raise InputError(f"{where}: published[{index}]: expected a mapping")
        _check(entry, _PUBLISHED, where, f"published[{index}].")
        for key in entry["where"]:
            if key not in RESULT_COLUMNS:
                raise InputError(f"{where}: published[{index}].where.{key}: choose from {', '.join(RESULT_COLUMNS)}")
    smoke = data.get("smoke") or {}
    _check(smoke, _SMOKE, where, "smoke.")
    for section in ("builds", "finetunes", "evaluations", "probes"):
        known = data.get(section) or {}
        for name in smoke.get(section) or {}:
            if name not in known:
                raise InputError(f"{where}: smoke.{section}.{name}: no {section[:-1]} named {name!r}")


def _check(node: Any, schema: dict[str, tuple[bool, type | None]], where: str, prefix: str) -> None:
    if not isinstance(node, dict):
        raise InputError(f"{where}: {prefix.rstrip('.') or 'recipe'}: expected a mapping")
    for key in node:
        if key not in schema:
            raise InputError(f"{where}: {prefix}{key}: unknown key; known: {', '.join(schema)}")
    for key, (required, kind) in schema.items():
        if key not in node:
            if required:
                raise InputError(f"{where}: {prefix}{key}: missing")
            continue
        value = node[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if kind is not None and not isinstance(value, kind):
            raise InputError(f"{where}: {prefix}{key}: expected {kind.__name__}, got {type(value).__name__}")


def _check_settings(settings: Any, known: tuple[str, ...], where: str, prefix: str) -> None:
    if not isinstance(settings, dict):
        raise InputError(f"{where}: {prefix.rstrip('.')}: expected a mapping")
    for key in settings:
        if key not in known:
            raise InputError(f"{where}: {prefix}{key}: unknown setting; known: {', '.join(known)}")
