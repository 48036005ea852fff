"""``xbench export lm-eval``: lm-evaluation-harness task YAMLs with exactly xbench's prompts.

Per config, one group file whose tasks are inline (lm-eval resolves no ``include`` there, so
the shared fields are repeated): one task per (config, subject) for MMLU-style data (the
subject's header as the description, its dev rows as ``first_n`` demos, rows selected with a
parquet ``filters`` argument), one task per config otherwise. Groups report accuracy weighted
by size.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from xbench.errors import InputError, XbenchError
from xbench.runner import prompts
from xbench.runner.evaluate import _header_sentence, _load_split, available_configs


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _doc_to_text(ids: tuple[str, ...]) -> str:
    return "{{question}}" + "".join(f"\n{label}. {{{{choices[{i}]}}}}" for i, label in enumerate(ids)) + "\nAnswer:"


def export_lm_eval(
    dataset: str, out: str | Path, *, configs: list[str] | None = None, ids: str = "ABCD", instruction: str = "none",
    prefix: str = "xbench", dataset_path: str | None = None,
) -> list[Path]:
    """Write the task files for ``dataset`` (a build folder or Hub id); returns the files written.

    ``dataset_path`` is what the YAMLs load (e.g. the Hub id the build was pushed to), so the
    tasks can be shared; by default the folder's absolute path or the Hub id given.
    """
    labels = prompts.option_ids(ids)
    prompts.check_instruction(instruction)
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
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    written = []
    for config in configs or available_configs(dataset):
        splits = _split_names(dataset, config)
        if "test" not in splits:
            raise InputError(f"{dataset} config {config!r}: no test split (splits: {', '.join(splits)}); lm-eval export covers the multiple-choice families (mmlu_mixup, hp_quiz)")
        rows = _load_split(dataset, config, "test")
        if "choices" not in rows[0]:
            raise InputError(f"{dataset} config {config!r}: not multiple choice (no 'choices' column); lm-eval export covers mmlu_mixup and hp_quiz")
        subjects = list(dict.fromkeys(r.get("subject") or "" for r in rows))
        # demos come from the dev split; a config without one (HP-Quiz) names none, or lm-eval fails on it
        fewshot = {"fewshot_split": "dev", "fewshot_config": {"sampler": "first_n"}} if "dev" in splits else {}
        group = f"{prefix}_{name}_{_slug(config)}"
        tasks = []
        for subject in subjects:
            example = next(r for r in rows if (r.get("subject") or "") == subject)
            task = {
                "task": f"{group}_{_slug(subject)}" if subject else f"{group}_all",
                "dataset_path": location,
                "dataset_name": config,
                "description": prompts.header(_header_sentence(example, config), instruction),
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

    try:
        return datasets.get_dataset_split_names(dataset, config)
    except Exception as err:
        raise XbenchError(f"could not read the splits of {dataset} config {config!r} ({type(err).__name__})") from None


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    return path
