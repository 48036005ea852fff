"""``xbench export lm-eval``: lm-evaluation-harness task YAMLs with exactly xbench's prompts.

Per config, one group file whose tasks are inline (lm-eval resolves no ``include`` there, so
the shared fields are repeated): one task per (config, subject) for MMLU-style data (the
subject's header as the description, its dev rows as ``first_n`` demos, rows selected with a
parquet ``filters`` argument), one task per config otherwise. Groups report accuracy weighted
by size.

``--protocol harness``: lm-eval's own conventions (continuation ``" A"``), exactly the prompts of
``xbench eval --protocol harness``. ``--protocol study``: the study's header (two spaces after
"about") and its option token ``tokenizer(L).input_ids[-1]``, written as the continuation that
encodes to that token: the bare letter (``target_delimiter: ""``) on byte-level BPE tokenizers
(Llama-3, Qwen, GPT-2, SmolLM2), the spaced one on SentencePiece tokenizers (Llama-2, Mistral);
pass ``tokenizer`` to have it checked and chosen. Demos keep ``"Answer: X"``. HP-Quiz cannot be
exported under study: its prompt ends in ``"Answer: "`` and lm-eval moves a context's trailing
space into the continuation, which changes the tokens scored.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from xbench import built_dataset
from xbench.built_dataset import MULTIPLE_CHOICE, available_configs, load_split
from xbench.errors import InputError, XbenchError
from xbench.runner import prompts, protocols


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _doc_to_text(ids: tuple[str, ...]) -> str:
    return "{{question}}" + "".join(f"\n{label}. {{{{choices[{i}]}}}}" for i, label in enumerate(ids)) + "\nAnswer:"


def study_delimiter(tokenizer, labels: tuple[str, ...]) -> str:
    """What lm-eval must put between ``Answer:`` and the letter so that it scores the study's token."""
    if tokenizer is None:
        return ""
    base = tokenizer("Answer:", add_special_tokens=False)["input_ids"]
    for delimiter in ("", " "):
        fits = True
        for label in labels:
            full = tokenizer(f"Answer:{delimiter}{label}", add_special_tokens=False)["input_ids"]
            token = protocols.study_option_token(tokenizer, label)
            fits &= full[: len(base)] == base and full[len(base) :] == [token]
        if fits:
            return delimiter
    raise InputError(
        "--tokenizer: the study's option tokens (the letters encoded alone) follow 'Answer:' neither bare nor after a space with this tokenizer; lm-eval cannot score them"
    )


def export_lm_eval(
    dataset: str,
    out: str | Path,
    *,
    configs: list[str] | None = None,
    ids: str = "ABCD",
    instruction: str = "none",
    prefix: str = "xbench",
    protocol: str = protocols.HARNESS,
    tokenizer=None,
    dataset_path: str | None = None,
) -> list[Path]:
    """Write the task files for ``dataset`` (a build folder or Hub id); returns the files written.

    ``tokenizer`` (study only): a loaded tokenizer, to choose and check the continuation.
    ``dataset_path`` is what the YAMLs load (e.g. the Hub id the build was pushed to), so the
    tasks can be shared; by default the folder's absolute path or the Hub id given.
    """
    protocols.check_protocol(protocol)
    labels = prompts.option_ids(ids)
    prompts.check_instruction(instruction)
    delimiter = study_delimiter(tokenizer, labels) if protocol == protocols.STUDY else " "
    configs = configs or available_configs(dataset)
    splits = {config: _split_names(dataset, config) for config in configs}
    for config, names in splits.items():
        if "test" not in names:
            raise InputError(
                f"{dataset} config {config!r}: no test split (splits: {', '.join(names)}); lm-eval export covers the multiple-choice families (mmlu_mixup, hp_quiz)"
            )
    loaded = {config: load_split(dataset, config, "test") for config in configs}
    card = built_dataset.read_card(dataset)
    described = {config: card.config(config, rows[0]) for config, rows in loaded.items()}
    for config, metadata in described.items():
        if metadata.kind != MULTIPLE_CHOICE:
            raise InputError(f"{dataset} config {config!r}: not multiple choice (a {metadata.kind} config); lm-eval export covers mmlu_mixup and hp_quiz")
    if protocol == protocols.STUDY:
        for config, metadata in described.items():
            if protocols.study_rules(metadata.family) not in (protocols.MMLU, protocols.GENERIC):
                raise InputError(
                    f"--protocol study: {config} is not MMLU-style; lm-eval moves the study's trailing space after 'Answer: ' into the answer, "
                    "so export it with --protocol harness or score it with xbench eval"
                )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    location = dataset_path or (str(Path(dataset).resolve()) if Path(dataset).exists() else dataset)
    name = _slug(Path(dataset).resolve().name if Path(dataset).exists() else dataset.split("/")[-1])
    template = {
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": _doc_to_text(labels),
        "doc_to_choice": list(labels),
        "doc_to_target": "answer",
        "target_delimiter": delimiter,
        "fewshot_delimiter": "\n\n",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    written = []
    for config, rows in loaded.items():
        subjects = list(dict.fromkeys(r.get("subject") or "" for r in rows))
        # demos come from the dev split; a config without one (HP-Quiz) names none, or lm-eval fails on it
        sampler = {"sampler": "first_n"} if delimiter == " " else {"sampler": "first_n", "target_delimiter": " "}
        fewshot = {"fewshot_split": "dev", "fewshot_config": sampler} if "dev" in splits[config] else {}
        group = f"{prefix}_{name}_{_slug(config)}"
        tasks = []
        for subject in subjects:
            example = next(r for r in rows if (r.get("subject") or "") == subject)
            task = {
                "task": f"{group}_{_slug(subject)}" if subject else f"{group}_all",
                "dataset_path": location,
                "dataset_name": config,
                "description": prompts.header(prompts.header_sentence(example, described[config], protocol), instruction),
                **template,
                **fewshot,
            }
            if subject:
                task["dataset_kwargs"] = {"filters": [["subject", "==", subject]]}
            tasks.append(task)
        group_file = {
            "group": group,
            "task": tasks,
            "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
            "metadata": {"version": 1.0},
        }
        written.append(_write(out / f"{group}.yaml", group_file))
    return written


def _split_names(dataset: str, config: str) -> list[str]:
    import datasets

    if built_dataset.is_local(dataset):
        return list(built_dataset.data_files(dataset, config))
    try:
        return datasets.get_dataset_split_names(dataset, config)
    except Exception as err:
        raise XbenchError(f"could not read the splits of {dataset} config {config!r} ({type(err).__name__})") from None


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    return path
