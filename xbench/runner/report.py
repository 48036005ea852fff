"""``xbench report``: a table of runs (rows: models, columns: configs) and the study's plots."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from xbench.errors import InputError, XbenchError
from xbench.formats import FORMATS
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.runner.results import EVAL, RESULTS_FILE, Metric, RunResult, load_results

REPORT_STEM = "report"


def collect(runs: list[str | Path]) -> list[RunResult]:
    """Every results.json under the given run folders (or the files themselves)."""
    results = []
    for run in runs:
        path = Path(run)
        if not path.exists():
            raise InputError(f"{path}: no such run folder (expected a folder written by xbench eval, or its results.json)")
        files = [path] if path.is_file() else sorted(path.rglob(RESULTS_FILE))
        if not files:
            raise InputError(f"{path}: no {RESULTS_FILE} found")
        results.extend(load_results(f) for f in files)
    return results


def headline(result: RunResult) -> float:
    """Accuracy for multiple choice, ROUGE-L recall for generation."""
    metric = result.metrics.get("acc") or result.metrics.get("rougeL_recall") or next(iter(result.metrics.values()))
    return metric.value


def row_label(result: RunResult) -> str:
    """A row per model, dataset and prompt setting: runs that differ in any of them never merge."""
    dataset = Path(result.dataset).name if Path(result.dataset).exists() else result.dataset
    if result.kind != EVAL:
        return f"{result.model} | {dataset} | {result.kind} {_settings_text(result.settings)}".rstrip()
    prompt = result.prompt
    label = f"{result.model} | {dataset} | shots:{prompt.shots} demos:{prompt.demos} ids:{prompt.ids} instr:{prompt.instruction} {prompt.strategy}"
    label += "" if prompt.protocol == "-" else f" {prompt.protocol}"
    label += " chat" if prompt.chat_template else ""
    return label + (" system-prompt" if prompt.system_prompt else "")


def _settings_text(settings: dict) -> str:
    """``key:value`` per setting, lists joined by commas; nested records (sacrebleu signatures) are left to the signature."""
    parts = []
    for key, value in settings.items():
        if isinstance(value, list):
            value = ",".join(map(str, value))
        if value is not None and not isinstance(value, dict):
            parts.append(f"{key}:{value}")
    return " ".join(parts)


def accuracy_table(results: list[RunResult]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(config columns in the study's order, {row label: {config: accuracy}})."""
    configs = sorted(dict.fromkeys(r.config for r in results), key=_config_order)
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for r in results:
        label = row_label(r)
        if r.config in table[label]:
            raise InputError(f"two results for {r.config} in the same row ({label}); report one run folder per setting")
        table[label][r.config] = headline(r)
    return configs, dict(table)


def _config_order(config: str) -> tuple[int, str, int]:
    """en first, then each language's formats in the study's order, then mixup and the rest."""
    lang, fmt = split_config(config)
    if lang == SOURCE_LANGUAGE:
        return (0, "", 0)
    if fmt in FORMATS:
        return (1, f"{list(LANGUAGES).index(lang):03d}" if lang in LANGUAGES else lang, list(FORMATS).index(fmt))
    return (2, config, 0)


def split_config(config: str) -> tuple[str, str]:
    """``fr_gt_option`` -> (fr, gt_option); ``fr`` -> (fr, full); ``en`` -> (en, en)."""
    lang, _, fmt = config.partition("_")
    if config == SOURCE_LANGUAGE:
        return SOURCE_LANGUAGE, SOURCE_LANGUAGE
    if lang == "mixup":
        return config, config
    if not fmt:
        return lang, "full"
    return (lang, fmt) if fmt in FORMATS else (config, config)


def check_plot_target(out: Path) -> None:
    """Before any work: matplotlib is installed and ``out`` can be a folder."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise XbenchError('--plots needs matplotlib: pip install ".[run]" (or pip install matplotlib)') from None
    if out.exists() and not out.is_dir():
        raise InputError(f"--plots: {out} is a file; give a folder for the plots")


@dataclass(frozen=True)
class Cell:
    metric: Metric
    n: int
    flags: tuple[str, ...] = ()


def headline_metric(result: RunResult) -> tuple[str, Metric]:
    name = next((k for k in ("acc", "rougeL_recall") if k in result.metrics), next(iter(result.metrics)))
    return name, result.metrics[name]


def format_metric(metric: Metric, digits: int = 4) -> str:
    """``0.2300 ± 0.0298``; the ± part is left out when there is no standard error (one sample)."""
    value = f"{metric.value:.{digits}f}"
    return f"{value} ± {metric.stderr:.{digits}f}" if math.isfinite(metric.stderr) else value


def result_table(results: list[RunResult]) -> tuple[list[str], dict[str, dict[str, Cell]]]:
    """Like ``accuracy_table`` with the standard error, n and the run's flags in each cell."""
    configs, _ = accuracy_table(results)  # also rejects two results for one cell
    table: dict[str, dict[str, Cell]] = defaultdict(dict)
    for r in results:
        table[row_label(r)][r.config] = Cell(headline_metric(r)[1], r.n_samples, tuple(r.flags))
    return configs, dict(table)


def flag_lines(results: list[RunResult]) -> list[str]:
    return [f"{r.model} {r.config}: {flag}" for r in results for flag in r.flags]


def write_tables(results: list[RunResult], out: Path) -> list[Path]:
    """report.md, report.csv (one row per model and config) and report.json (the same records)."""
    out.mkdir(parents=True, exist_ok=True)
    configs, table = result_table(results)
    records = []
    for r in sorted(results, key=lambda r: (row_label(r), _config_order(r.config))):
        metric_name, metric = headline_metric(r)
        records.append(
            {
                "model": r.model,
                "dataset": r.dataset,
                "config": r.config,
                "setting": row_label(r).split(" | ")[-1],
                "metric": metric_name,
                "value": metric.value,
                "stderr": metric.stderr if math.isfinite(metric.stderr) else None,
                "n": r.n_samples,
                "signature": r.signature,
                "build_signature": r.build_signature,
                "flags": list(r.flags),
            }
        )
    md = ["| model | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    for label, cells in table.items():
        md.append(
            f"| {label.replace('|', chr(92) + '|')} | "
            + " | ".join(f"{format_metric(cells[c].metric, 3)} (n={cells[c].n})" if c in cells else "-" for c in configs)
            + " |"
        )
    notes = flag_lines(results)
    if notes:
        md += ["", "Warnings:", "", *(f"- {line}" for line in notes)]
    md += ["", "Values: accuracy (ROUGE-L recall for generation) ± standard error of the mean; n: questions scored."]
    paths = [out / f"{REPORT_STEM}.md", out / f"{REPORT_STEM}.csv", out / f"{REPORT_STEM}.json"]
    paths[0].write_text("\n".join(md) + "\n", encoding="utf-8")
    with open(paths[1], "w", encoding="utf-8", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=[k for k in records[0] if k != "flags"] + ["flags"])
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "flags": "; ".join(record["flags"])})
    paths[2].write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
