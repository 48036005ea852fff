"""``xbench study run RECIPE --dry-run --json``: the plan as JSON, each step's settings as they will run.

Settings a step leaves to its command's defaults are filled in (the fine-tuning recipe's
hyperparameters, the eval protocol and strategy); values that depend on a source the dry run
cannot read (a build that needs the network, a corpus not there yet) are written as
``"unknown: REASON"`` instead, so the plan prints offline and nothing fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xbench.study.estimate import estimate_plan
from xbench.study.plan import Plan, Step

EVAL_DEFAULTS = {"protocol": "study", "strategy": "maxprob"}  # xbench eval's defaults (runner/evaluate.py)
FIRST_TOKEN_COMPARISON = {
    "study": "the greedy first token, decoded and stripped of whitespace, must equal the option letter (paper § E.2; the released code samples and compares whole strings)",
    "harness": "the greedy first token must be one of the option tokens",
}


def plan_json(plan: Plan, out: str | Path | None) -> dict[str, Any]:
    """The plan of ``plan`` as a JSON-ready dict: ``{"recipe", "profile", "models", "steps": [...]}``."""
    estimates = {e.step: e for e in estimate_plan(plan, out)} if out is not None else _scratch_estimates(plan)
    steps = []
    for step in plan.steps:
        estimate = estimates.get(step.id)
        entry = {
            "id": step.id,
            "kind": step.kind,
            "model": step.labels.get("model") or step.settings.get("model"),
            "inputs": step.inputs,
            "out": step.out,
            "settings": _settings(step, estimate.work if estimate else {}, estimate.note if estimate else ""),
        }
        if estimate is not None:
            entry["status"] = estimate.status
        steps.append(entry)
    return {"recipe": plan.recipe.name, "profile": plan.profile, "models": plan.models, "steps": steps}


def _scratch_estimates(plan: Plan) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="xbench-study-plan-") as folder:
        return {e.step: e for e in estimate_plan(plan, Path(folder) / "study")}


def _settings(step: Step, work: dict[str, Any], note: str) -> dict[str, Any]:
    settings = dict(step.settings)
    if step.kind == "eval":
        for key, value in EVAL_DEFAULTS.items():
            settings.setdefault(key, value)
        settings["first_token_comparison"] = FIRST_TOKEN_COMPARISON.get(settings["protocol"], "unknown protocol")
        settings["questions"] = work.get("questions") if work.get("questions") is not None else f"unknown: {note or 'the build is not planned'}"
    elif step.kind == "finetune":
        settings.update(_finetune_settings(settings, work, note))
    elif step.kind == "build" and note:
        settings["planned"] = note
    return settings


def _finetune_settings(settings: dict[str, Any], work: dict[str, Any], note: str) -> dict[str, Any]:
    from xbench.finetune.config import load_recipe

    recipe = load_recipe(settings.get("recipe", "study"))
    resolved = {key: settings.get(key, value) for key, value in recipe.values.items()}
    resolved["recipe"] = recipe.name
    resolved["packing"] = True  # text corpora are packed into max_length blocks (xbench/finetune/data.py)
    documents = work.get("documents")
    resolved["documents"] = documents if documents is not None else f"unknown: {note or 'the build is not planned'}"
    # Packed blocks are known only after tokenizing, so examples and steps follow from max_steps alone.
    resolved["examples"] = "unknown: packed blocks are counted after tokenizing"
    if settings.get("max_steps"):
        resolved["optimizer_steps"] = int(settings["max_steps"])
    else:
        resolved["optimizer_steps"] = "unknown: floor(epochs x examples / effective batch) once examples are counted"
    return resolved
