"""``xbench eval``: score a causal LM on configs of a built dataset (local folder or Hub id)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xbench import __version__
from xbench.errors import InputError, XbenchError
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.quiet import silence_libraries
from xbench.runner import data, prompts
from xbench.runner.data import available_configs
from xbench.runner.data import load_split as _load_split
from xbench.runner.distributed import all_gather, barrier, current_shard, local_device
from xbench.runner.model import LoadedModel, load_model, model_fingerprint, require_torch
from xbench.runner.results import (
    RESULTS_FILE,
    SAMPLES_FILE,
    PromptSettings,
    RunResult,
    Sample,
    accuracy,
    prompt_hash,
    check_out_folder,
    resumable_samples,
    resume_key,
    sample_log,
    signature,
    write_results,
    write_samples,
)
from xbench.runner.scoring import McScorer, Scored, resolve_option_tokens

DEMO_SOURCES = ("english", "same", "translate")
PREFIX_CHUNK = 32  # questions between two flushes of samples.jsonl with the prefix cache (batch 1)


def config_language(config: str) -> str:
    """``fr_gt_option`` -> fr, ``de`` -> de, ``mixup`` / ``en`` -> en."""
    head = config.split("_")[0]
    return head if head in LANGUAGES else SOURCE_LANGUAGE


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
) -> list[RunResult]:
    """Score ``model`` on each config; writes ``out/<config>/results.json`` and ``samples.jsonl``."""
    require_torch()
    silence_libraries()
    labels = prompts.option_ids(ids)
    prompts.check_instruction(instruction)
    if demos not in DEMO_SOURCES:
        raise InputError(f"--demos: unknown demo source {demos!r}; choose from {', '.join(DEMO_SOURCES)}")
    if shots < 0:
        raise InputError("--shots: must be 0 or more")
    if limit is not None and limit < 1:
        raise InputError(f"--limit: must be at least 1, got {limit}")
    check_out_folder(Path(out))
    known = available_configs(dataset)
    configs = configs or known
    unknown = [c for c in configs if c not in known]
    if unknown:
        raise InputError(f"--configs: unknown config(s) {', '.join(unknown)}; {dataset} has {', '.join(known)}")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, dtype=dtype, device=local_device() or device, device_map=device_map)
    scorer = McScorer(loaded.model, loaded.tokenizer, resolve_option_tokens(loaded.tokenizer, labels), strategy=strategy, device=loaded.device)
    batch = _batch_size(batch_size, loaded.device)
    settings = PromptSettings(shots, demos, ids, instruction, strategy)
    results = []
    for config in configs:
        rows = _select(_load_split(dataset, config, split), subjects, limit, config)
        if "choices" in rows[0]:
            results.append(_evaluate_config(scorer, loaded, dataset, config, split, rows, settings, labels, batch, Path(out), resume, progress))
        else:
            results.append(_evaluate_generation(loaded, dataset, config, split, rows, max_new_tokens, rouge_tokenizer, Path(out), resume, progress))
    return results


def _select(rows: list[dict[str, Any]], subjects: list[str] | None, limit: int | None, config: str) -> list[dict[str, Any]]:
    for index, row in enumerate(rows):  # before any selection, so an id names the same row in every run
        row["id"] = row.get("id") or f"row/{index}"
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row["id"] in seen:
            raise InputError(f"config {config!r}: id {row['id']!r} appears twice (rows {seen[row['id']] + 1} and {index + 1}); rows need unique ids to be scored and resumed")
        seen[row["id"]] = index
    if subjects:
        rows = [r for r in rows if r.get("subject") in subjects]
        if not rows:
            raise InputError(f"--subjects: none of {', '.join(subjects)} is in {config}")
    rows = rows[:limit] if limit else rows
    if not rows:
        raise InputError(f"{config}: no rows to score")
    return rows


def _evaluate_generation(loaded, dataset, config, split, rows, max_new_tokens, rouge_tokenizer, out, resume=False, progress=None) -> RunResult:
    """Greedy answers scored with ROUGE recall against the English ``answer`` (TOFU), each written as it is made."""
    from xbench.runner.generation import DEFAULT_TEMPLATE, GenerationSample, generate_greedy, rouge_metrics, score_pairs

    shard = current_shard()
    settings = PromptSettings(0, "none", "-", "none", f"greedy:{max_new_tokens}|rouge:{rouge_tokenizer}")
    dataset_hash, key = _run_identity(loaded, dataset, config, split, settings)
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    if shard.is_main:
        (folder / RESULTS_FILE).unlink(missing_ok=True)
    barrier(shard)
    mine = shard.take(rows)
    texts = {r["id"]: DEFAULT_TEMPLATE.format(question=r["question"]) for r in mine}
    wanted = {r["id"]: (prompt_hash(texts[r["id"]]), r["answer"]) for r in mine}
    done = resumable_samples(folder, key, wanted, GenerationSample, "reference") if resume else {}
    log = folder / (SAMPLES_FILE if shard.world == 1 else f"samples.rank{shard.rank}.jsonl")
    with sample_log(log, (done[r["id"]] for r in mine if r["id"] in done)) as append:
        for row in (r for r in mine if r["id"] not in done):
            text = texts[row["id"]]
            generation = generate_greedy(loaded.model, loaded.tokenizer, [text], max_new_tokens, loaded.device)[0]
            record = {"id": row["id"], "generation": generation, "reference": row["answer"], "prompt_hash": prompt_hash(text)}
            sample = dataclasses.replace(score_pairs([record], rouge_tokenizer)[0], run_key=key)
            append([sample])
            done[sample.id] = sample
            if progress:
                progress(config, len(done), len(mine))
    merged = {s.id: s for s in all_gather([done[r["id"]] for r in mine], shard)}
    samples = [merged[r["id"]] for r in rows]
    result = RunResult(
        model=loaded.name, model_revision=loaded.revision, dataset=dataset, dataset_revision=None, config=config, split=split,
        prompt=settings, seed=0, n_samples=len(samples), metrics=rouge_metrics(samples), per_subject={},
        signature=signature(dataset, config, settings, dataset_hash), dtype=loaded.dtype, device=loaded.device,
        dataset_hash=dataset_hash, run_key=key,
    )
    _finish(folder, samples, result, shard)
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
    """Score one config; under torchrun each rank scores its shard and rank 0 writes the merged files.

    Samples are appended to the log as each chunk is scored; results.json is written last, so a
    config folder without it is unfinished. ``resume`` keeps the samples scored under the same key.
    """
    shard = current_shard()
    demo_rows = _demo_rows(dataset, config, settings) if settings.shots else {}
    mine = shard.take(rows)
    groups = _group_by_subject(mine)
    texts: dict[str, str] = {}
    for subject, group in groups.items():
        demos = demo_rows.get(subject, [])[: settings.shots]
        if settings.shots and len(demos) < settings.shots:
            raise InputError(f"--shots {settings.shots}: the dev split has only {len(demos)} rows for subject {subject!r}")
        texts.update(zip((r["id"] for r in group), _prompt_texts(group, demos, config, settings, labels)))
    dataset_hash, key = _run_identity(loaded, dataset, config, split, settings)
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    if shard.is_main:
        (folder / RESULTS_FILE).unlink(missing_ok=True)  # the samples below no longer belong to it
    barrier(shard)
    wanted = {r["id"]: (prompt_hash(texts[r["id"]]), int(r["answer"])) for r in mine}
    done: dict[str, Sample] = resumable_samples(folder, key, wanted) if resume else {}
    budgets = _translate_budgets(scorer, rows, settings, labels)
    log = folder / (SAMPLES_FILE if shard.world == 1 else f"samples.rank{shard.rank}.jsonl")
    with sample_log(log, (done[r["id"]] for r in mine if r["id"] in done)) as append:
        finished = len(done)
        for subject, group in groups.items():
            todo = [r for r in group if r["id"] not in done]
            if batch > 1:  # similar lengths pad less
                todo.sort(key=lambda r: len(texts[r["id"]]))
            size = batch if batch > 1 or settings.demos == "translate" else PREFIX_CHUNK
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]
                chunk_texts = [texts[r["id"]] for r in chunk]
                scored = _score_texts(scorer, chunk_texts, settings, batch, budgets.get(subject, 0))
                samples = [_sample(row, subject, text, one, key) for row, text, one in zip(chunk, chunk_texts, scored)]
                append(samples)
                done.update((sample.id, sample) for sample in samples)
                finished += len(chunk)
                if progress:
                    progress(config, finished, len(mine))
    merged = {s.id: s for s in all_gather([done[r["id"]] for r in mine], shard)}
    ordered = [merged[r["id"]] for r in rows]
    per_subject = {s: accuracy([x.correct for x in ordered if x.subject == s]) for s in dict.fromkeys(x.subject for x in ordered)}
    result = RunResult(
        model=loaded.name, model_revision=loaded.revision, dataset=dataset, dataset_revision=None, config=config, split=split,
        prompt=settings, seed=0, n_samples=len(ordered), metrics={"acc": accuracy([x.correct for x in ordered])},
        per_subject=per_subject if len(per_subject) > 1 else {}, signature=signature(dataset, config, settings, dataset_hash),
        dtype=loaded.dtype, device=loaded.device, dataset_hash=dataset_hash, run_key=key,
    )
    _finish(folder, ordered, result, shard)
    return result


def _finish(folder: Path, samples: list[Any], result: RunResult, shard) -> None:
    """Rank 0 writes samples.jsonl in row order (whatever order they were scored in), then results.json."""
    barrier(shard)
    if shard.is_main:
        write_samples(folder, samples)
        for path in folder.glob("samples.rank*.jsonl"):
            path.unlink()
        write_results(folder, result)
    barrier(shard)


def _run_identity(loaded: LoadedModel, dataset: str, config: str, split: str, settings: PromptSettings) -> tuple[str | None, str]:
    """(content hash of the local files read, resume key): a sample is reused only under the same key."""
    read = [config] + ([SOURCE_LANGUAGE] if settings.shots and settings.demos in ("english", "translate") else [])
    dataset_hash = data.content_hash(dataset, read) if data.is_local(dataset) else None
    key = resume_key(
        model=model_fingerprint(loaded), prompt=settings, dataset=dataset_hash or dataset, config=config, split=split, xbench=__version__
    )
    return dataset_hash, key


def _prompt_texts(rows, demos, config, settings, labels) -> list[str]:
    header = prompts.header(_header_sentence(rows[0], config), settings.instruction)
    if settings.demos == "translate":
        prefix = header + "".join(prompts.translate_demo(mixed, english, labels) for mixed, english in demos)
        return [prefix + prompts.translate_query(r["question"], r["choices"], labels) for r in rows]
    prefix = header + prompts.demo_block(demos, labels)
    return [prefix + prompts.format_example(r["question"], r["choices"], labels) for r in rows]


def _translate_budgets(scorer, rows, settings, labels) -> dict[str, int]:
    """Translate-then-answer: tokens a subject's model may write, twice its longest query, from all its rows."""
    if settings.demos != "translate":
        return {}
    return {
        subject: 2 * max(len(scorer.tokenizer(prompts.translate_query(r["question"], r["choices"], labels))["input_ids"]) for r in group) + 16
        for subject, group in _group_by_subject(rows).items()
    }


def _score_texts(scorer, texts, settings, batch, budget) -> list[Scored]:
    if settings.demos == "translate":
        return scorer.score_after_translation(texts, max_new_tokens=budget)
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


def _sample(row: dict[str, Any], subject: str, text: str, scored: Scored, key: str) -> Sample:
    return Sample(
        id=row["id"], subject=subject, prompt_hash=prompt_hash(text), probs=scored.probs, logprobs=scored.logprobs,
        prediction=scored.prediction, target=int(row["answer"]), correct=scored.prediction == int(row["answer"]),
        generation=scored.generation, run_key=key,
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
