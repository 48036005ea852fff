"""``xbench eval``: score a causal LM on configs of a built dataset (local folder or Hub id)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xbench import built_dataset
from xbench.built_dataset import MULTIPLE_CHOICE, ConfigMetadata, available_configs, load_split
from xbench.device import launcher_device
from xbench.errors import InputError, XbenchError
from xbench.formats import check_config_name
from xbench.languages import SOURCE_LANGUAGE
from xbench.quiet import silence_libraries
from xbench.runner import prompts, protocols
from xbench.runner.diagnostics import answer_flags
from xbench.runner.distributed import all_gather, barrier, current_shard
from xbench.runner.model import LoadedModel, load_model, require_torch
from xbench.runner.provenance import dataset_provenance, record_provenance
from xbench.runner.results import (
    EVAL,
    RESULTS_FILE,
    SAMPLES_FILE,
    PromptSettings,
    RunResult,
    Sample,
    accuracy,
    check_out_folder,
    eval_signature,
    prompt_hash,
    write_results,
    write_samples,
)
from xbench.runner.resume import resumable_samples, run_identity, sample_log
from xbench.runner.sampling import stratified_sample
from xbench.runner.scoring import McScorer, Scored, option_tokens, scoring_path
from xbench.runner.settings import STUDY_TRANSLATE_INSTRUCTION, EvalSettings

if TYPE_CHECKING:
    from xbench.runner.backends import ApiOptions, PlannedRequest

PREFIX_CHUNK = 32  # questions between two flushes of samples.jsonl with the prefix cache (batch 1)


def _header(row: dict[str, Any], metadata: ConfigMetadata, settings: PromptSettings) -> str:
    sentence = prompts.header_sentence(row, metadata, settings.protocol)
    if settings.instruction == STUDY_TRANSLATE_INSTRUCTION:
        return f"{sentence} {protocols.TRANSLATE_INSTRUCTION}\n\n"
    return prompts.header(sentence, settings.instruction)


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
    sample: int | None = None,
    sample_seed: int = 0,
    dtype: str = "auto",
    device: str = "auto",
    batch_size: int | str = 1,
    resume: bool = False,
    max_new_tokens: int | None = None,
    rouge_tokenizer: str = "default",
    device_map: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    protocol: str = protocols.DEFAULT_PROTOCOL,
    apply_chat_template: bool = False,
    system_prompt: str | None = None,
    tokenizer: str | None = None,
    tofu_template: str = "auto",
    log_samples: bool = False,
    api: ApiOptions | None = None,
) -> list[RunResult]:
    """Score ``model`` on each config; writes ``out/<config>/results.json`` and ``samples.jsonl``.

    ``protocol``: ``study`` (the official code's prompts and scoring) or ``harness``
    (lm-evaluation-harness conventions); see :mod:`xbench.runner.protocols`.
    ``max_new_tokens`` (generation): default 256 for the study's translate-then-answer, TOFU's
    200 tokens including the prompt for TOFU under study, 200 new tokens under harness.
    With ``api``, ``model`` is the name an OpenAI-compatible server serves it under.
    """
    run = EvalSettings(
        configs=configs,
        split=split,
        shots=shots,
        demos=demos,
        ids=ids,
        instruction=instruction,
        strategy=strategy,
        protocol=protocol,
        limit=limit,
        subjects=subjects,
        sample=sample,
        sample_seed=sample_seed,
        apply_chat_template=apply_chat_template,
        system_prompt=system_prompt,
        max_new_tokens=max_new_tokens,
        rouge_tokenizer=rouge_tokenizer,
        tofu_template=tofu_template,
    )
    if api is None:
        require_torch()
    silence_libraries()
    run = run.checked()
    check_out_folder(Path(out))
    labels, configs = run.labels, _configs(dataset, run)
    selected = {config: _select(load_split(dataset, config, run.split), run.subjects, run.limit, config, run) for config in configs}
    card = built_dataset.read_card(dataset)
    described = {config: card.config(config, rows[0]) for config, rows in selected.items()}
    if run.protocol == protocols.STUDY:
        _require_paraphrased_questions(dataset, run.split, selected, described, available_configs(dataset))
    if api is not None:
        loaded, scorer = _api_backend(model, dataclasses.replace(api, protocol=run.protocol), labels, run.strategy, run.demos)
        batch = 1  # the backend's pool sends a subject's questions concurrently
    else:
        rules = protocols.study_rules(described[configs[0]].family)
        loaded = (
            model
            if isinstance(model, LoadedModel)
            else load_model(
                model, dtype=dtype, device=launcher_device() or device, device_map=device_map, tokenizer=tokenizer, kind=rules, protocol=run.protocol
            )
        )
        scorer = McScorer(
            loaded.model,
            loaded.tokenizer,
            option_tokens(loaded.tokenizer, labels, run.protocol),
            strategy=run.strategy,
            device=loaded.device,
            protocol=run.protocol,
            add_special_tokens=not run.apply_chat_template,
        )
        batch = _batch_size(batch_size, loaded.device)
    provenance = dataset_provenance(dataset)
    results = []
    for config, rows in selected.items():
        metadata = described[config]
        if metadata.kind == MULTIPLE_CHOICE or api is not None:
            result = _evaluate_config(scorer, loaded, dataset, config, metadata, rows, run, batch, Path(out), resume, progress, log_samples)
        else:
            result = _evaluate_generation(loaded, dataset, config, rows, run, Path(out), resume, progress)
        results.append(record_provenance(result, provenance, Path(out) / config, rewrite=current_shard().is_main))
    return results


def _configs(dataset: str, run: EvalSettings) -> list[str]:
    """The configs to score (all by default), each a name that can be a folder under --out."""
    known = available_configs(dataset)
    configs = list(run.configs or known)
    unknown = [c for c in configs if c not in known]
    if unknown:
        raise InputError(f"--configs: unknown config(s) {', '.join(unknown)}; {dataset} has {', '.join(known)}")
    for config in configs:
        check_config_name(config, f"{dataset}: config")
    return configs


def _api_backend(model, api: ApiOptions, labels, strategy: str, demos: str, check: bool = True):
    from xbench.runner.backends import open_api_backend

    if demos == "translate":
        raise InputError("--demos translate decodes before it scores; it needs the local backend")
    return open_api_backend(model, api, labels, strategy, check=check)


def plan_api_requests(model: str, dataset: str, api: ApiOptions, run: EvalSettings = EvalSettings()) -> list[PlannedRequest]:
    """``xbench eval --backend openai --dry-run``: every request a run with ``run`` would send; nothing is sent."""
    silence_libraries()
    run = run.checked()
    configs = _configs(dataset, run)
    _, scorer = _api_backend(model, dataclasses.replace(api, protocol=run.protocol), run.labels, run.strategy, run.demos, check=False)
    card = built_dataset.read_card(dataset)
    planned: list[PlannedRequest] = []
    for config in configs:
        rows = _select(load_split(dataset, config, run.split), run.subjects, run.limit, config, run)
        metadata = card.config(config, rows[0])
        _require_multiple_choice(metadata, config)
        texts = _config_texts(dataset, config, metadata, _group_by_subject(rows), run.prompt, run.labels)
        planned.extend(scorer.plan(config, list(texts), list(texts.values())))
    return planned


def _require_multiple_choice(metadata: ConfigMetadata, config: str) -> None:
    if metadata.kind != MULTIPLE_CHOICE:
        raise InputError(f"{config}: a {metadata.kind} config; the API backend scores multiple-choice configs, use the local backend")


PARAPHRASED = "paraphrased_question"


def _require_paraphrased_questions(
    dataset: str, split: str, selected: dict[str, list[dict[str, Any]]], described: dict[str, ConfigMetadata], known: list[str]
) -> None:
    """The study evaluates TOFU on its paraphrased questions: a generation config without them is bad input."""
    for config, rows in selected.items():
        if described[config].kind == MULTIPLE_CHOICE or PARAPHRASED in rows[0]:
            continue
        having = [c for c in known if c in selected and PARAPHRASED in selected[c][0]]
        having += [c for c in known if c not in selected and PARAPHRASED in _peek(dataset, c, split)]
        where = (
            f"configs with it: {', '.join(having)}"
            if having
            else ("build from a _perturbed subset (xbench build tofu --source-config forget10_perturbed; forget01/05/10_perturbed have it)")
        )
        raise InputError(f"{config}: no {PARAPHRASED} column, which --protocol study prompts (TOFU is evaluated on paraphrased questions); {where}")


def _peek(dataset: str, config: str, split: str) -> dict[str, Any]:
    try:
        rows = load_split(dataset, config, split)
    except XbenchError:
        return {}
    return rows[0] if rows else {}


def _select(rows: list[dict[str, Any]], subjects: list[str] | None, limit: int | None, config: str, run: EvalSettings | None = None) -> list[dict[str, Any]]:
    for index, row in enumerate(rows):  # before any selection, so an id names the same row in every run
        row["id"] = row.get("id") or f"row/{index}"
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row["id"] in seen:
            raise InputError(
                f"config {config!r}: id {row['id']!r} appears twice (rows {seen[row['id']] + 1} and {index + 1}); rows need unique ids to be scored and resumed"
            )
        seen[row["id"]] = index
    if subjects:
        rows = [r for r in rows if r.get("subject") in subjects]
        if not rows:
            raise InputError(f"--subjects: none of {', '.join(subjects)} is in {config}")
    rows = rows[:limit] if limit else rows
    if run is not None and run.sample:
        rows = stratified_sample(rows, run.sample, run.sample_seed)
    if not rows:
        raise InputError(f"{config}: no rows to score")
    return rows


def _evaluate_generation(loaded, dataset, config, rows, run: EvalSettings, out, resume=False, progress=None) -> RunResult:
    """Greedy answers scored with ROUGE recall against the English ``answer`` (TOFU), each written as it is made.

    study: the ``paraphrased_question`` in the model family's TOFU template, 200 tokens in all
    (prompt included) as TOFU generates; harness: ``question`` in ``Question: q\\nAnswer:``,
    200 new tokens. With a chat template, the question alone is the user turn.
    """
    from xbench.runner.generation import DEFAULT_TEMPLATE, GenerationSample, generate_greedy, rouge_metrics, score_pairs

    shard = current_shard()
    prompt, split, max_new_tokens, rouge_tokenizer = run.prompt, run.split, run.max_new_tokens, run.rouge_tokenizer
    study = prompt.protocol == protocols.STUDY
    column = PARAPHRASED if study else "question"
    template = protocols.tofu_template_name(run.tofu_template, getattr(loaded.model.config, "model_type", None)) if study else "harness"
    if prompt.chat_template:
        template = "chat"

    def render(question: str) -> str:
        if prompt.chat_template:
            return prompts.wrap(question, loaded.tokenizer, chat_template=True, system_prompt=prompt.system_prompt)
        text = protocols.TOFU_TEMPLATES[template].render(question) if study else DEFAULT_TEMPLATE.format(question=question)
        return prompts.wrap(text, loaded.tokenizer, system_prompt=prompt.system_prompt)

    special = not prompt.chat_template
    if max_new_tokens is not None:
        budget, budget_name = max_new_tokens, str(max_new_tokens)
    elif study:

        def budget(text: str) -> int:
            return max(1, protocols.TOFU_MAX_LENGTH - len(loaded.tokenizer(text, add_special_tokens=special)["input_ids"]))

        budget_name = f"len{protocols.TOFU_MAX_LENGTH}"
    else:
        budget, budget_name = protocols.HARNESS_TOFU_TOKENS, str(protocols.HARNESS_TOFU_TOKENS)
    strategy = f"greedy:{budget_name}|rouge:{rouge_tokenizer}|template:{template}|q:{column}"
    settings = PromptSettings(0, "none", "-", "none", strategy, prompt.protocol, prompt.chat_template, prompt.system_prompt)
    mine = shard.take(rows)
    missing = next((r["id"] for r in mine if not isinstance(r.get(column), str) or not r[column].strip()), None)
    if missing is not None:
        raise InputError(f"{config}: row {missing} has no {column}")
    dataset_hash, key = run_identity(loaded, dataset, config, split, settings)
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    if shard.is_main:
        (folder / RESULTS_FILE).unlink(missing_ok=True)
    barrier(shard)
    texts = {r["id"]: render(r[column]) for r in mine}
    wanted = {r["id"]: (prompt_hash(texts[r["id"]]), r["answer"]) for r in mine}
    done = resumable_samples(folder, key, wanted, GenerationSample, "reference") if resume else {}
    log = folder / (SAMPLES_FILE if shard.world == 1 else f"samples.rank{shard.rank}.jsonl")
    with sample_log(log, (done[r["id"]] for r in mine if r["id"] in done)) as append:
        for row in (r for r in mine if r["id"] not in done):
            text = texts[row["id"]]
            generation = generate_greedy(loaded.model, loaded.tokenizer, [text], budget, loaded.device, add_special_tokens=special)[0]
            record = {"id": row["id"], "generation": generation, "reference": row["answer"], "prompt_hash": prompt_hash(text)}
            sample = dataclasses.replace(score_pairs([record], rouge_tokenizer)[0], run_key=key)
            append([sample])
            done[sample.id] = sample
            if progress:
                progress(config, len(done), len(mine))
    merged = {s.id: s for s in all_gather([done[r["id"]] for r in mine], shard)}
    samples = [merged[r["id"]] for r in rows]
    result = _eval_result(loaded, dataset, config, split, settings, dataset_hash, key, n_samples=len(samples), metrics=rouge_metrics(samples))
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


def _evaluate_config(
    scorer, loaded, dataset, config, metadata: ConfigMetadata, rows, run: EvalSettings, batch, out, resume, progress, log_samples=False
) -> RunResult:
    """Score one config; under torchrun each rank scores its shard and rank 0 writes the merged files.

    Samples are appended to the log as each chunk is scored; results.json is written last, so a
    config folder without it is unfinished. ``resume`` keeps the samples scored under the same key.
    """
    shard = current_shard()
    settings, labels, split = run.prompt, run.labels, run.split
    _require_multiple_choice(metadata, config)
    mine = shard.take(rows)
    groups = _group_by_subject(mine)
    texts = _config_texts(dataset, config, metadata, groups, settings, labels, scorer.tokenizer)
    dataset_hash, key = run_identity(loaded, dataset, config, split, settings)
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
        if progress:
            progress(config, finished, len(mine))
        for subject, group in groups.items():
            todo = [r for r in group if r["id"] not in done]
            if batch > 1:  # similar lengths pad less
                todo.sort(key=lambda r: len(texts[r["id"]]))
            size = batch if batch > 1 or settings.demos == "translate" else PREFIX_CHUNK
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]
                chunk_texts = [texts[r["id"]] for r in chunk]
                samples = []
                scored = _score_texts(scorer, chunk_texts, settings, batch, budgets.get(subject, 0), run.max_new_tokens)
                for row, text, one in zip(chunk, chunk_texts, scored):  # one by one: progress advances per question
                    samples.append(_sample(row, subject, text, one, key, text if log_samples else None))
                    finished += 1
                    if progress:
                        progress(config, finished, len(mine))
                append(samples)
                done.update((sample.id, sample) for sample in samples)
    merged = {s.id: s for s in all_gather([done[r["id"]] for r in mine], shard)}
    ordered = [merged[r["id"]] for r in rows]
    per_subject = {s: accuracy([x.correct for x in ordered if x.subject == s]) for s in dict.fromkeys(x.subject for x in ordered)}
    acc = accuracy([x.correct for x in ordered])
    result = _eval_result(
        loaded,
        dataset,
        config,
        split,
        settings,
        dataset_hash,
        key,
        n_samples=len(ordered),
        metrics={"acc": acc},
        flags=answer_flags([x.prediction for x in ordered], labels, acc.value, acc.stderr),
        per_subject=per_subject if len(per_subject) > 1 else {},
    )
    _finish(folder, ordered, result, shard)
    return result


def _eval_result(loaded, dataset: str, config: str, split: str, settings, dataset_hash: str | None, key: str, **measured: Any) -> RunResult:
    """The RunResult of one scored config: what was run (model, data, settings) plus what was ``measured``."""
    return RunResult(
        kind=EVAL,
        model=loaded.name,
        model_revision=loaded.revision,
        dataset=dataset,
        dataset_revision=None,
        config=config,
        split=split,
        settings=dataclasses.asdict(settings),
        seed=0,
        signature=eval_signature(dataset, config, settings, dataset_hash),
        dtype=loaded.dtype,
        device=loaded.device,
        tokenizer=loaded.tokenizer_source,
        dataset_hash=dataset_hash,
        run_key=key,
        **{"per_subject": {}, **measured},
    )


def _finish(folder: Path, samples: list[Any], result: RunResult, shard) -> None:
    """Rank 0 writes samples.jsonl in row order (whatever order they were scored in), then results.json."""
    barrier(shard)
    if shard.is_main:
        write_samples(folder, samples)
        for path in folder.glob("samples.rank*.jsonl"):
            path.unlink()
        write_results(folder, result)
    barrier(shard)


def _config_texts(dataset, config, metadata, groups, settings, labels, tokenizer=None) -> dict[str, str]:
    """{row id: prompt} for the rows of each subject group."""
    demo_rows = _demo_rows(dataset, config, settings) if settings.shots else {}
    texts: dict[str, str] = {}
    for subject, group in groups.items():
        demos = demo_rows.get(subject, [])[: settings.shots]
        if settings.shots and len(demos) < settings.shots:
            raise InputError(f"--shots {settings.shots}: the dev split has only {len(demos)} rows for subject {subject!r}")
        texts.update(zip((r["id"] for r in group), _prompt_texts(group, demos, metadata, settings, labels, tokenizer)))
    return texts


def _prompt_texts(rows, demos, metadata: ConfigMetadata, settings, labels, tokenizer=None) -> list[str]:
    """The prompts of one subject's rows under ``settings`` (protocol rules: :mod:`xbench.runner.protocols`)."""
    header = _header(rows[0], metadata, settings)
    if settings.demos == "translate" and settings.protocol == protocols.STUDY:
        prefix = header + "".join(prompts.study_translate_demo(mixed, english, labels) for mixed, english in demos)
        texts = [prefix + prompts.study_translate_query(r["question"], r["choices"], labels) for r in rows]
    elif settings.demos == "translate":
        prefix = header + "".join(prompts.translate_demo(mixed, english, labels) for mixed, english in demos)
        texts = [prefix + prompts.translate_query(r["question"], r["choices"], labels) for r in rows]
    else:
        cue = protocols.answer_cue(protocols.study_rules(metadata.family), settings.protocol)
        prefix = header + prompts.demo_block(demos, labels)
        texts = [prefix + prompts.format_example(r["question"], r["choices"], labels, cue=cue) for r in rows]
    if settings.chat_template or settings.system_prompt:
        texts = [prompts.wrap(t, tokenizer, chat_template=settings.chat_template, system_prompt=settings.system_prompt) for t in texts]
    return texts


def _translate_budgets(scorer, rows, settings, labels) -> dict[str, int]:
    """Harness translate-then-answer: tokens a subject's model may write, twice its longest query, from all its rows."""
    if settings.demos != "translate" or settings.protocol == protocols.STUDY:
        return {}
    return {
        subject: 2 * max(len(scorer.tokenizer(prompts.translate_query(r["question"], r["choices"], labels))["input_ids"]) for r in group) + 16
        for subject, group in _group_by_subject(rows).items()
    }


def _score_texts(scorer, texts, settings, batch, budget, max_new_tokens=None) -> Iterable[Scored]:
    if settings.demos == "translate" and settings.protocol == protocols.STUDY:
        return scorer.answer_by_generation(texts, max_new_tokens or protocols.STUDY_TRANSLATE_TOKENS)
    if settings.demos == "translate":
        return scorer.score_after_translation(texts, max_new_tokens=max_new_tokens or budget)
    return _score(scorer, texts, batch)


def _score(scorer: McScorer, texts: list[str], batch: int) -> Iterable[Scored]:
    path = scoring_path(batch)
    if path == "prefix-cache":
        return scorer.iter_group(texts)  # one question at a time: progress advances per question
    if path == "prefix-batched":
        return scorer.score_prefix_batched(texts, batch)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
    scored: dict[int, Scored] = {}
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        scored.update(zip(chunk, scorer.score_batch([texts[i] for i in chunk])))
    return [scored[i] for i in range(len(texts))]


def _sample(row: dict[str, Any], subject: str, text: str, scored: Scored, key: str, logged_prompt: str | None = None) -> Sample:
    return Sample(
        id=row["id"],
        subject=subject,
        prompt_hash=prompt_hash(text),
        probs=scored.probs,
        logprobs=scored.logprobs,
        prediction=scored.prediction,
        target=int(row["answer"]),
        correct=scored.prediction == int(row["answer"]),
        generation=scored.generation,
        run_key=key,
        prompt=logged_prompt,
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
        return load_split(dataset, config, "dev")
    except (InputError, XbenchError):
        raise InputError(f"--shots {settings.shots}: {dataset} config {config!r} has no dev split for demos") from None
