"""``xbench eval``: score a causal LM on configs of a built dataset (local folder or Hub id)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xbench.errors import InputError, XbenchError
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.quiet import silence_libraries
from xbench.runner import prompts
from xbench.runner.distributed import all_gather, barrier, current_shard, local_device
from xbench.runner.model import LoadedModel, load_model, require_torch
from xbench.runner.results import (
    SAMPLES_FILE,
    PromptSettings,
    RunResult,
    Sample,
    accuracy,
    prompt_hash,
    read_samples,
    signature,
    write_results,
)
from xbench.runner.scoring import McScorer, Scored, resolve_option_tokens

if TYPE_CHECKING:
    from xbench.runner.backends import ApiOptions, PlannedRequest

DEMO_SOURCES = ("english", "same", "translate")
REQUIRED_COLUMNS = ("question", "answer")  # with "choices": multiple choice; without: generation


def config_language(config: str) -> str:
    """``fr_gt_option`` -> fr, ``de`` -> de, ``mixup`` / ``en`` -> en."""
    head = config.split("_")[0]
    return head if head in LANGUAGES else SOURCE_LANGUAGE


def _load_split(dataset: str, config: str, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        rows = datasets.load_dataset(dataset, config, split=split)
    except ValueError as err:
        raise InputError(f"{dataset}: config {config!r} split {split!r}: {str(err).splitlines()[0][:200]}") from None
    except Exception as err:
        raise XbenchError(f"could not load {dataset} ({type(err).__name__}); check the path, the network or HF_TOKEN") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.column_names]
    if missing:
        raise InputError(f"{dataset} config {config!r}: missing column(s) {', '.join(missing)}")
    return rows.to_list()


def available_configs(dataset: str) -> list[str]:
    import datasets

    if not Path(dataset).exists() and dataset.startswith((".", "/")):
        raise InputError(f"--dataset: {dataset} does not exist")
    try:
        return datasets.get_dataset_config_names(dataset)
    except Exception as err:
        raise XbenchError(f"could not read the configs of {dataset} ({type(err).__name__})") from None


def _header_sentence(row: dict[str, Any], config: str) -> str:
    if row.get("subject"):
        return prompts.mmlu_header_sentence(row["subject"])
    if "entity" in row:  # HP-Quiz
        from xbench.builders.hp_quiz import instruction_header

        return instruction_header(config_language(config))
    return prompts.GENERIC_HEADER


def _group_by_subject(rows: list[Any], key: Callable[[Any], str] = lambda row: row.get("subject") or "") -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def evaluate(
    model: str | LoadedModel,
    dataset: str,
    *,
    out: str | Path,
    configs: list[str] | None = None,
    split: str = "test",
    shots: int = 0,
    demos: str = "english",
    ids: str = "ABCD",
    instruction: str = "none",
    strategy: str = "maxprob",
    limit: int | None = None,
    subjects: list[str] | None = None,
    dtype: str = "auto",
    device: str = "auto",
    batch_size: int | str = 1,
    resume: bool = False,
    max_new_tokens: int = 200,
    rouge_tokenizer: str = "default",
    device_map: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    api: ApiOptions | None = None,
) -> list[RunResult]:
    """Score ``model`` on each config; writes ``out/<config>/results.json`` and ``samples.jsonl``.

    With ``api``, ``model`` is the name an OpenAI-compatible server serves it under.
    """
    if api is None:
        require_torch()
    silence_libraries()
    labels, configs = _check_settings(dataset, configs, shots, demos, ids, instruction)
    if api is not None:
        loaded, scorer = _api_backend(model, api, labels, strategy, demos)
        batch = 1  # the backend's pool sends a subject's questions concurrently
    else:
        loaded = model if isinstance(model, LoadedModel) else load_model(model, dtype=dtype, device=local_device() or device, device_map=device_map)
        scorer = McScorer(loaded.model, loaded.tokenizer, resolve_option_tokens(loaded.tokenizer, labels), strategy=strategy, device=loaded.device)
        batch = _batch_size(batch_size, loaded.device)
    settings = PromptSettings(shots, demos, ids, instruction, strategy)
    results = []
    for config in configs:
        rows = _select(_load_split(dataset, config, split), subjects, limit, config)
        if "choices" in rows[0] or api is not None:
            results.append(_evaluate_config(scorer, loaded, dataset, config, split, rows, settings, labels, batch, Path(out), resume, progress))
        else:
            results.append(_evaluate_generation(loaded, dataset, config, split, rows, max_new_tokens, rouge_tokenizer, Path(out)))
    return results


def _check_settings(dataset, configs, shots, demos, ids, instruction) -> tuple[tuple[str, ...], list[str]]:
    labels = prompts.option_ids(ids)
    prompts.check_instruction(instruction)
    if demos not in DEMO_SOURCES:
        raise InputError(f"--demos: unknown demo source {demos!r}; choose from {', '.join(DEMO_SOURCES)}")
    if shots < 0:
        raise InputError("--shots: must be 0 or more")
    known = available_configs(dataset)
    configs = configs or known
    unknown = [c for c in configs if c not in known]
    if unknown:
        raise InputError(f"--configs: unknown config(s) {', '.join(unknown)}; {dataset} has {', '.join(known)}")
    return labels, configs


def _api_backend(model, api: ApiOptions, labels, strategy: str, demos: str, check: bool = True):
    from xbench.runner.backends import open_api_backend

    if demos == "translate":
        raise InputError("--demos translate decodes before it scores; it needs the local backend")
    return open_api_backend(model, api, labels, strategy, check=check)


def plan_api_requests(
    model: str,
    dataset: str,
    api: ApiOptions,
    *,
    configs: list[str] | None = None,
    split: str = "test",
    shots: int = 0,
    demos: str = "english",
    ids: str = "ABCD",
    instruction: str = "none",
    strategy: str = "maxprob",
    limit: int | None = None,
    subjects: list[str] | None = None,
) -> list[PlannedRequest]:
    """``xbench eval --backend openai --dry-run``: every request a run would send; nothing is sent."""
    silence_libraries()
    labels, configs = _check_settings(dataset, configs, shots, demos, ids, instruction)
    _, scorer = _api_backend(model, api, labels, strategy, demos, check=False)
    settings = PromptSettings(shots, demos, ids, instruction, strategy)
    planned: list[PlannedRequest] = []
    for config in configs:
        rows = _select(_load_split(dataset, config, split), subjects, limit, config)
        _require_choices(rows, config)
        texts = _config_texts(dataset, config, _group_by_subject(rows), settings, labels)
        planned.extend(scorer.plan(config, list(texts), list(texts.values())))
    return planned


def _require_choices(rows: list[dict[str, Any]], config: str) -> None:
    if "choices" not in rows[0]:
        raise InputError(f"{config}: a generation dataset (TOFU); the API backend scores multiple-choice configs, use the local backend")


def _select(rows: list[dict[str, Any]], subjects: list[str] | None, limit: int | None, config: str) -> list[dict[str, Any]]:
    if subjects:
        rows = [r for r in rows if r.get("subject") in subjects]
        if not rows:
            raise InputError(f"--subjects: none of {', '.join(subjects)} is in {config}")
    rows = rows[:limit] if limit else rows
    if not rows:
        raise InputError(f"{config}: no rows to score")
    for index, row in enumerate(rows):
        row["id"] = row.get("id") or f"row/{index}"
    return rows


def _evaluate_generation(loaded, dataset, config, split, rows, max_new_tokens, rouge_tokenizer, out) -> RunResult:
    """Greedy answers scored with ROUGE recall against the English ``answer`` (TOFU)."""
    from xbench.runner.generation import DEFAULT_TEMPLATE, generate_greedy, rouge_metrics, score_pairs, write_samples

    shard = current_shard()
    mine = shard.take(rows)
    texts = [DEFAULT_TEMPLATE.format(question=r["question"]) for r in mine]
    generations = generate_greedy(loaded.model, loaded.tokenizer, texts, max_new_tokens, loaded.device)
    records = [
        {"id": r["id"], "generation": g, "reference": r["answer"], "prompt_hash": prompt_hash(t)}
        for r, g, t in zip(mine, generations, texts)
    ]
    merged = {s.id: s for s in all_gather(score_pairs(records, rouge_tokenizer), shard)}
    samples = [merged[r["id"]] for r in rows]
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    if shard.is_main:
        write_samples(folder / SAMPLES_FILE, samples)
    settings = PromptSettings(0, "none", "-", "none", f"greedy:{max_new_tokens}|rouge:{rouge_tokenizer}")
    result = RunResult(
        model=loaded.name, model_revision=loaded.revision, dataset=dataset, dataset_revision=None, config=config, split=split,
        prompt=settings, seed=0, n_samples=len(samples), metrics=rouge_metrics(samples), per_subject={},
        signature=signature(dataset, config, settings), dtype=loaded.dtype, device=loaded.device,
    )
    if shard.is_main:
        write_results(folder, result)
    barrier(shard)
    return result


def _batch_size(batch_size: int | str, device: str) -> int:
    if batch_size == "auto":
        return 1 if device == "cpu" else 16  # on CPU, batch 1 with the prefix cache is fastest
    try:
        size = int(batch_size)
    except ValueError:
        raise InputError(f"--batch-size: expected a number or 'auto', got {batch_size!r}") from None
    if size < 1:
        raise InputError("--batch-size: must be at least 1")
    return size


def _evaluate_config(scorer, loaded, dataset, config, split, rows, settings, labels, batch, out, resume, progress) -> RunResult:
    """Score one config; under torchrun each rank scores its shard and rank 0 writes the merged files."""
    shard = current_shard()
    _require_choices(rows, config)
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    barrier(shard)
    mine = shard.take(rows)
    groups = _group_by_subject(mine)
    texts = _config_texts(dataset, config, groups, settings, labels)
    done: dict[str, Sample] = {}
    if resume:  # keep only samples scored with the same prompt; a changed setting rescores
        kept = {s.id: s for path in _sample_files(folder) for s in read_samples(path)}
        done = {i: s for i, s in kept.items() if i in texts and s.prompt_hash == prompt_hash(texts[i])}
    partial = folder / (SAMPLES_FILE if shard.world == 1 else f"samples.rank{shard.rank}.jsonl")
    with open(partial, "w", encoding="utf-8") as sink:
        # complete lines are rewritten, a line a crash may have cut is dropped
        sink.writelines(json.dumps(asdict(done[r["id"]]), ensure_ascii=False) + "\n" for r in mine if r["id"] in done)
        finished = len(done)
        for subject, group in groups.items():
            todo = [r for r in group if r["id"] not in done]
            if not todo:
                continue
            todo_texts = [texts[r["id"]] for r in todo]
            for row, text, scored in zip(todo, todo_texts, _score_texts(scorer, todo, todo_texts, settings, labels, batch)):
                sample = _sample(row, subject, text, scored)
                done[sample.id] = sample
                sink.write(json.dumps(asdict(sample), ensure_ascii=False) + "\n")
            sink.flush()
            finished += len(todo)
            if progress:
                progress(config, finished, len(mine))
    merged = {s.id: s for s in all_gather([done[r["id"]] for r in mine], shard)}
    ordered = [merged[r["id"]] for r in rows]
    per_subject = {s: accuracy([x.correct for x in ordered if x.subject == s]) for s in dict.fromkeys(x.subject for x in ordered)}
    result = RunResult(
        model=loaded.name, model_revision=loaded.revision, dataset=dataset, dataset_revision=None, config=config, split=split,
        prompt=settings, seed=0, n_samples=len(ordered), metrics={"acc": accuracy([x.correct for x in ordered])},
        per_subject=per_subject if len(per_subject) > 1 else {}, signature=signature(dataset, config, settings),
        dtype=loaded.dtype, device=loaded.device,
    )
    if shard.is_main:
        if shard.world > 1:
            (folder / SAMPLES_FILE).write_text("".join(json.dumps(asdict(x), ensure_ascii=False) + "\n" for x in ordered), encoding="utf-8")
        write_results(folder, result)
    barrier(shard)
    if shard.is_main:
        for path in folder.glob("samples.rank*.jsonl"):
            path.unlink()
    return result


def _config_texts(dataset, config, groups, settings, labels) -> dict[str, str]:
    """{row id: prompt} for the rows of each subject group."""
    demo_rows = _demo_rows(dataset, config, settings) if settings.shots else {}
    texts: dict[str, str] = {}
    for subject, group in groups.items():
        demos = demo_rows.get(subject, [])[: settings.shots]
        if settings.shots and len(demos) < settings.shots:
            raise InputError(f"--shots {settings.shots}: the dev split has only {len(demos)} rows for subject {subject!r}")
        texts.update(zip((r["id"] for r in group), _prompt_texts(group, demos, config, settings, labels)))
    return texts


def _sample_files(folder: Path) -> list[Path]:
    return [folder / SAMPLES_FILE, *sorted(folder.glob("samples.rank*.jsonl"))]


def _prompt_texts(rows, demos, config, settings, labels) -> list[str]:
    header = prompts.header(_header_sentence(rows[0], config), settings.instruction)
    if settings.demos == "translate":
        prefix = header + "".join(prompts.translate_demo(mixed, english, labels) for mixed, english in demos)
        return [prefix + prompts.translate_query(r["question"], r["choices"], labels) for r in rows]
    prefix = header + prompts.demo_block(demos, labels)
    return [prefix + prompts.format_example(r["question"], r["choices"], labels) for r in rows]


def _score_texts(scorer, rows, texts, settings, labels, batch) -> list[Scored]:
    if settings.demos == "translate":
        budget = max(len(scorer.tokenizer(prompts.translate_query(r["question"], r["choices"], labels))["input_ids"]) for r in rows)
        return scorer.score_after_translation(texts, max_new_tokens=2 * budget + 16)
    return _score(scorer, texts, batch)


def _score(scorer: McScorer, texts: list[str], batch: int) -> list[Scored]:
    if batch == 1:
        return scorer.score_group(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
    scored: dict[int, Scored] = {}
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        scored.update(zip(chunk, scorer.score_batch([texts[i] for i in chunk])))
    return [scored[i] for i in range(len(texts))]


def _sample(row: dict[str, Any], subject: str, text: str, scored: Scored) -> Sample:
    return Sample(
        id=row["id"], subject=subject, prompt_hash=prompt_hash(text), probs=scored.probs, logprobs=scored.logprobs,
        prediction=scored.prediction, target=int(row["answer"]), correct=scored.prediction == int(row["answer"]),
        generation=scored.generation,
    )


def _demo_rows(dataset: str, config: str, settings: PromptSettings) -> dict[str, list[Any]]:
    """The dev rows of each subject, in order: the first k of a subject are its demos.

    For ``translate`` each demo is a (row of this config, the same row in English) pair.
    """
    source = SOURCE_LANGUAGE if settings.demos == "english" else config
    rows = _dev_split(dataset, source, settings)
    if settings.demos == "translate":
        english = {r["id"]: r for r in _dev_split(dataset, SOURCE_LANGUAGE, settings)}
        rows = [(r, english[r["id"]]) for r in rows]
        return _group_by_subject(rows, key=lambda pair: pair[0].get("subject") or "")
    return _group_by_subject(rows)


def _dev_split(dataset: str, config: str, settings: PromptSettings) -> list[dict[str, Any]]:
    try:
        return _load_split(dataset, config, "dev")
    except (InputError, XbenchError):
        raise InputError(f"--shots {settings.shots}: {dataset} config {config!r} has no dev split for demos") from None
