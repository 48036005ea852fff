"""``xbench report``: a table of runs (rows: models, columns: configs) and the study's plots."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from xbench.errors import InputError
from xbench.formats import FORMATS
from xbench.languages import SOURCE_LANGUAGE
from xbench.runner.results import RESULTS_FILE, RunResult, load_results


def collect(runs: list[str | Path]) -> list[RunResult]:
    """Every results.json under the given run folders (or the files themselves)."""
    results = []
    for run in runs:
        path = Path(run)
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
    prompt = result.prompt
    dataset = Path(result.dataset).name if Path(result.dataset).exists() else result.dataset
    label = f"{result.model} | {dataset} | shots:{prompt.shots} demos:{prompt.demos} ids:{prompt.ids} instr:{prompt.instruction} {prompt.strategy}"
    label += "" if prompt.protocol == "-" else f" {prompt.protocol}"
    label += " chat" if prompt.chat_template else ""
    return label + (" system-prompt" if prompt.system_prompt else "")


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
        return (1, lang, list(FORMATS).index(fmt))
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


def plot(results: list[RunResult], out: Path) -> list[Path]:
    """accuracy.png (per format, grouped by language) and gap.png (accuracy minus English), per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    _, table = accuracy_table(results)
    for model, scores in table.items():
        english = scores.get(SOURCE_LANGUAGE)
        by_lang: dict[str, dict[str, float]] = defaultdict(dict)
        for config, acc in scores.items():
            lang, fmt = split_config(config)
            if lang != SOURCE_LANGUAGE and fmt != lang:
                by_lang[lang][fmt] = acc
        formats = [f for f in FORMATS if any(f in v for v in by_lang.values())]
        langs = list(by_lang)
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in model).strip("._") or "model"
        for kind in ("accuracy", "gap"):
            if kind == "gap" and english is None:
                continue
            fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(langs) * max(1, len(formats)) / 3), 4))
            width = 0.8 / max(1, len(formats))
            for i, fmt in enumerate(formats):
                values = [by_lang[lang].get(fmt, float("nan")) - (english if kind == "gap" else 0) for lang in langs]
                ax.bar([x + i * width for x in range(len(langs))], values, width, label=fmt)
            if kind == "accuracy":
                ax.set_ylim(0, 1)
                if english is not None:
                    ax.axhline(english, color="black", linestyle="--", linewidth=1, label="en")
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.set_xticks([x + width * (len(formats) - 1) / 2 for x in range(len(langs))], langs)
            ax.set_ylabel("accuracy" if kind == "accuracy" else "accuracy - English")
            ax.set_title(f"{model}: {'accuracy per format' if kind == 'accuracy' else 'gap to English'}")
            ax.legend(fontsize="small", ncol=2, loc="upper right")
            fig.tight_layout()
            path = out / f"{slug}_{kind}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
    return written
