"""``xbench study run --dry-run``: what each step would do and cost, without running anything.

Builds are planned with ``xbench build --dry-run`` (segments, characters and requests per engine
chain, what the translation cache already holds); evaluations count questions from those
plans; fine-tuning counts documents and, with ``max_steps``, an upper bound on tokens. Times
come from throughput measured by earlier runs of the same kind of step with the same model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xbench.errors import XbenchError
from xbench.study.plan import Plan, Step
from xbench.study.run import EXECUTORS, build_arguments, is_current, measured_throughput, resolve, step_record, throughput_key

STUDY_BATCH = 32  # effective batch of the study's fine-tuning (FT/ft_config.yaml: 2 x 8 accumulation x 2 GPUs)


@dataclass
class StepEstimate:
    step: str
    kind: str
    status: str  # cached | run | resume
    work: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    note: str = ""


def estimate_plan(plan: Plan, out: str | Path) -> list[StepEstimate]:
    out = Path(out)
    estimates: list[StepEstimate] = []
    rates = measured_throughput()
    builds: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="xbench-study-dry-") as scratch:
        for step in plan.steps:
            status = "cached" if is_current(out, step) else ("resume" if (step_record(out, step) or {}).get("key") == step.key else "run")
            estimate = StepEstimate(step.id, step.kind, status)
            try:
                if step.kind == "data" and step.settings["slice"] != "hp-index":
                    if not (out / step.out).exists():
                        EXECUTORS["data"](plan, step, Path(scratch), False)  # cheap local slices feed the build plans
                elif step.kind == "build":
                    builds[step.id] = _plan_build(plan, step, out, Path(scratch))
                    estimate.work = builds[step.id]["work"]
                elif step.kind == "eval":
                    estimate.work = {"questions": _questions(step, builds)}
                elif step.kind == "finetune":
                    estimate.work = _finetune_work(step, builds)
            except XbenchError as err:
                estimate.note = f"not estimated: {err}"
            estimate.seconds = _seconds(step, plan, estimate.work, rates)
            estimates.append(estimate)
    return estimates


def _resolved_paths(plan: Plan, step: Step, out: Path, scratch: Path) -> dict[str, Any]:
    """Settings with step references pointing at existing outputs, else at the dry-run's scratch slices."""
    settings = resolve(step.settings, plan, out)
    scratch_settings = resolve(step.settings, plan, scratch)
    for key, value in settings.items():
        if isinstance(value, str) and value != step.settings.get(key) and not Path(value).exists():
            settings[key] = scratch_settings[key]
    return settings


def _plan_build(plan: Plan, step: Step, out: Path, scratch: Path) -> dict[str, Any]:
    from xbench.building import build

    settings = _resolved_paths(plan, step, out, scratch)
    report = build(settings["dataset"], dry_run=True, cache=plan.cache, **build_arguments(settings))
    chain = report.translator
    languages = report.languages.values()
    work = {
        "engines": chain,
        "segments": sum(s.segments for s in languages),
        "characters": sum(s.characters for s in languages),
        "requests": sum(s.requests for s in languages),
        "cached": sum(s.cache_hits for s in languages),
    }
    return {"work": work, "configs": report.configs}


def _questions(step: Step, builds: dict[str, Any]) -> int | None:
    dataset = step.settings["dataset"].removeprefix("@step:")
    planned = builds.get(dataset)
    if planned is None:
        return None
    split = step.settings.get("split", "test")
    limit = step.settings.get("limit")
    total = 0
    for config in step.settings["configs"]:
        rows = planned["configs"].get(config, {}).get(split, 0)
        total += min(rows, limit) if limit else rows
    return total


def _finetune_work(step: Step, builds: dict[str, Any]) -> dict[str, Any]:
    planned = builds.get(step.settings["data"].removeprefix("@step:"))
    documents = sum(planned["configs"].get(step.settings["config"], {}).values()) if planned else None
    work: dict[str, Any] = {"documents": documents}
    if step.settings.get("max_steps"):
        batch = int(step.settings.get("effective_batch_size", STUDY_BATCH))
        work["tokens"] = int(step.settings["max_steps"]) * batch * int(step.settings.get("max_length", 500))
        work["tokens_note"] = f"upper bound: steps x batch {batch} x max length"
    return work


def _seconds(step: Step, plan: Plan, work: dict[str, Any], rates: dict[str, dict[str, Any]]) -> float | None:
    rate = rates.get(throughput_key(step, plan))
    if not rate:
        return None
    amount = work.get(rate["unit"])
    if not isinstance(amount, (int, float)) or not rate["per_second"]:
        return None
    return amount / rate["per_second"]
