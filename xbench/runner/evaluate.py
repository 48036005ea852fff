"""``xbench eval``: score a causal LM on configs of a built dataset (local folder or Hub id)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xbench.errors import InputError, XbenchError
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.quiet import silence_libraries
from xbench.runner import prompts, protocols
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
from xbench.runner.scoring import McScorer, Scored, option_tokens

DEMO_SOURCES = ("english", "same", "translate")
STUDY_TRANSLATE_INSTRUCTION = "aware2"  # recorded name of the study's translate-then-answer instruction
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


def row_kind(row: dict[str, Any]) -> str:
    """mmlu (has a subject), hp (HP-Quiz: has an entity), tofu (no choices: generation) or generic."""
    if "choices" not in row:
        return "tofu"
    if row.get("subject"):
        return "mmlu"
    return "hp" if "entity" in row else "generic"


def _header_sentence(row: dict[str, Any], config: str, protocol: str) -> str:
    kind = row_kind(row)
    if kind == "mmlu":
        return prompts.mmlu_header_sentence(row["subject"], protocol)
    if kind == "hp":
        from xbench.builders.hp_quiz import instruction_header

        lang = config_language(config)
        return protocols.hp_instruction(lang, instruction_header(lang), protocol)
    return prompts.GENERIC_HEADER


def _header(row: dict[str, Any], config: str, settings: PromptSettings) -> str:
    sentence = _header_sentence(row, config, settings.protocol)
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
) -> list[RunResult]:
    """Score ``model`` on each config; writes ``out/<config>/results.json`` and ``samples.jsonl``.

    ``protocol``: ``study`` (the official code's prompts and scoring) or ``harness``
    (lm-evaluation-harness conventions); see :mod:`xbench.runner.protocols`.
    ``max_new_tokens`` (generation): default 256 for the study's translate-then-answer, TOFU's
    200 tokens including the prompt for TOFU under study, 200 new tokens under harness.
    """
    require_torch()
    silence_libraries()
    protocols.check_protocol(protocol)
    protocols.check_template(tofu_template)
    labels = prompts.option_ids(ids)
    prompts.check_instruction(instruction)
    if demos not in DEMO_SOURCES:
        raise InputError(f"--demos: unknown demo source {demos!r}; choose from {', '.join(DEMO_SOURCES)}")
    if shots < 0:
        raise InputError("--shots: must be 0 or more")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise InputError("--max-new-tokens: must be at least 1")
    if protocol == protocols.STUDY and demos == "translate":
        if instruction != "none":
            raise InputError("--instruction: the study's translate-then-answer has its own instruction (INTERV_PROMPTS[2]); leave --instruction out")
        instruction = STUDY_TRANSLATE_INSTRUCTION
    known = available_configs(dataset)
    configs = configs or known
    unknown = [c for c in configs if c not in known]
    if unknown:
        raise InputError(f"--configs: unknown config(s) {', '.join(unknown)}; {dataset} has {', '.join(known)}")
    selected = {config: _select(_load_split(dataset, config, split), subjects, limit, config) for config in configs}
    if protocol == protocols.STUDY:
        _require_paraphrased_questions(dataset, split, selected, known)
    kind = row_kind(selected[configs[0]][0])
    loaded = model if isinstance(model, LoadedModel) else load_model(
        model, dtype=dtype, device=local_device() or device, device_map=device_map, tokenizer=tokenizer, kind=kind, protocol=protocol
    )
    scorer = McScorer(
        loaded.model, loaded.tokenizer, option_tokens(loaded.tokenizer, labels, protocol), strategy=strategy, device=loaded.device,
        protocol=protocol, add_special_tokens=not apply_chat_template,
    )
    batch = _batch_size(batch_size, loaded.device)
    settings = PromptSettings(shots, demos, ids, instruction, strategy, protocol, apply_chat_template, system_prompt)
    results = []
    for config, rows in selected.items():
        if "choices" in rows[0]:
            results.append(
                _evaluate_config(scorer, loaded, dataset, config, split, rows, settings, labels, batch, Path(out), resume, progress, max_new_tokens)
            )
        else:
            results.append(
                _evaluate_generation(loaded, dataset, config, split, rows, settings, max_new_tokens, rouge_tokenizer, tofu_template, Path(out))
            )
    return results


PARAPHRASED = "paraphrased_question"


def _require_paraphrased_questions(dataset: str, split: str, selected: dict[str, list[dict[str, Any]]], known: list[str]) -> None:
    """The study evaluates TOFU on its paraphrased questions: a generation config without them is bad input."""
    for config, rows in selected.items():
        if "choices" in rows[0] or PARAPHRASED in rows[0]:
            continue
        having = [c for c in known if c in selected and PARAPHRASED in selected[c][0]]
        having += [c for c in known if c not in selected and PARAPHRASED in _peek(dataset, c, split)]
        where = f"configs with it: {', '.join(having)}" if having else (
            "build from a _perturbed subset (xbench build tofu --source-config forget10_perturbed; forget01/05/10_perturbed have it)"
        )
        raise InputError(f"{config}: no {PARAPHRASED} column, which --protocol study prompts (TOFU is evaluated on paraphrased questions); {where}")


def _peek(dataset: str, config: str, split: str) -> dict[str, Any]:
    try:
        rows = _load_split(dataset, config, split)
    except XbenchError:
        return {}
    return rows[0] if rows else {}


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


def _evaluate_generation(loaded, dataset, config, split, rows, prompt, max_new_tokens, rouge_tokenizer, tofu_template, out) -> RunResult:
    """Greedy answers scored with ROUGE recall against the English ``answer`` (TOFU).

    study: the ``paraphrased_question`` in the model family's TOFU template, 200 tokens in all
    (prompt included) as TOFU generates; harness: ``question`` in ``Question: q\\nAnswer:``,
    200 new tokens. With a chat template, the question alone is the user turn.
    """
    from xbench.runner.generation import DEFAULT_TEMPLATE, generate_greedy, rouge_metrics, score_pairs, write_samples

    shard = current_shard()
    mine = shard.take(rows)
    study = prompt.protocol == protocols.STUDY
    column = PARAPHRASED if study else "question"
    template = protocols.tofu_template_name(tofu_template, getattr(loaded.model.config, "model_type", None)) if study else "harness"
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
    missing = next((r["id"] for r in mine if not isinstance(r.get(column), str) or not r[column].strip()), None)
    if missing is not None:
        raise InputError(f"{config}: row {missing} has no {column}")
    texts = [render(r[column]) for r in mine]
    generations = generate_greedy(loaded.model, loaded.tokenizer, texts, budget, loaded.device, add_special_tokens=special)
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
    strategy = f"greedy:{budget_name}|rouge:{rouge_tokenizer}|template:{template}|q:{column}"
    settings = PromptSettings(0, "none", "-", "none", strategy, prompt.protocol, prompt.chat_template, prompt.system_prompt)
    result = RunResult(
        model=loaded.name, model_revision=loaded.revision, dataset=dataset, dataset_revision=None, config=config, split=split,
        prompt=settings, seed=0, n_samples=len(samples), metrics=rouge_metrics(samples), per_subject={},
        signature=signature(dataset, config, settings), dtype=loaded.dtype, device=loaded.device, tokenizer=loaded.tokenizer_source,
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


def _evaluate_config(scorer, loaded, dataset, config, split, rows, settings, labels, batch, out, resume, progress, max_new_tokens=None) -> RunResult:
    """Score one config; under torchrun each rank scores its shard and rank 0 writes the merged files."""
    shard = current_shard()
    demo_rows = _demo_rows(dataset, config, settings) if settings.shots else {}
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    barrier(shard)
    mine = shard.take(rows)
    groups = _group_by_subject(mine)
    texts: dict[str, str] = {}
    for subject, group in groups.items():
        demos = demo_rows.get(subject, [])[: settings.shots]
        if settings.shots and len(demos) < settings.shots:
            raise InputError(f"--shots {settings.shots}: the dev split has only {len(demos)} rows for subject {subject!r}")
        texts.update(zip((r["id"] for r in group), _prompt_texts(group, demos, config, settings, labels, scorer.tokenizer)))
    done: dict[str, Sample] = {}
    if resume:  # keep only samples scored with the same prompt and settings; a changed setting rescores
        kept = {s.id: s for path in _sample_files(folder) for s in read_samples(path)}
        key = settings.fingerprint()
        done = {i: s for i, s in kept.items() if i in texts and s.prompt_hash == prompt_hash(texts[i]) and s.settings == key}
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
            for row, text, scored in zip(todo, todo_texts, _score_texts(scorer, todo, todo_texts, settings, labels, batch, max_new_tokens)):
                sample = _sample(row, subject, text, scored, settings)
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
        dtype=loaded.dtype, device=loaded.device, tokenizer=loaded.tokenizer_source,
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


def _sample_files(folder: Path) -> list[Path]:
    return [folder / SAMPLES_FILE, *sorted(folder.glob("samples.rank*.jsonl"))]


def _prompt_texts(rows, demos, config, settings, labels, tokenizer=None) -> list[str]:
    """The prompts of one subject's rows under ``settings`` (protocol rules: :mod:`xbench.runner.protocols`)."""
    header = _header(rows[0], config, settings)
    if settings.demos == "translate" and settings.protocol == protocols.STUDY:
        prefix = header + "".join(prompts.study_translate_demo(mixed, english, labels) for mixed, english in demos)
        texts = [prefix + prompts.study_translate_query(r["question"], r["choices"], labels) for r in rows]
    elif settings.demos == "translate":
        prefix = header + "".join(prompts.translate_demo(mixed, english, labels) for mixed, english in demos)
        texts = [prefix + prompts.translate_query(r["question"], r["choices"], labels) for r in rows]
    else:
        cue = protocols.answer_cue(row_kind(rows[0]), settings.protocol)
        prefix = header + prompts.demo_block(demos, labels)
        texts = [prefix + prompts.format_example(r["question"], r["choices"], labels, cue=cue) for r in rows]
    if settings.chat_template or settings.system_prompt:
        texts = [prompts.wrap(t, tokenizer, chat_template=settings.chat_template, system_prompt=settings.system_prompt) for t in texts]
    return texts


def _score_texts(scorer, rows, texts, settings, labels, batch, max_new_tokens=None) -> list[Scored]:
    if settings.demos == "translate" and settings.protocol == protocols.STUDY:
        return scorer.answer_by_generation(texts, max_new_tokens or protocols.STUDY_TRANSLATE_TOKENS)
    if settings.demos == "translate":
        budget = max(len(scorer.tokenizer(prompts.translate_query(r["question"], r["choices"], labels))["input_ids"]) for r in rows)
        return scorer.score_after_translation(texts, max_new_tokens=max_new_tokens or 2 * budget + 16)
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


def _sample(row: dict[str, Any], subject: str, text: str, scored: Scored, settings: PromptSettings) -> Sample:
    return Sample(
        id=row["id"], subject=subject, prompt_hash=prompt_hash(text), probs=scored.probs, logprobs=scored.logprobs,
        prediction=scored.prediction, target=int(row["answer"]), correct=scored.prediction == int(row["answer"]),
        generation=scored.generation, settings=settings.fingerprint(),
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
