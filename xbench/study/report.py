"""The report of a study folder: one row per (evaluation, variant, model, training, config, metric),
the gap to English with paired statistics, the paper's values beside ours, and the figure.

Writes ``report/results.{md,csv,json}`` and ``report/figure.png``. The gap of a language is
measured on the questions both configs share (same ids): a paired bootstrap interval of the
mean difference and, for accuracy, McNemar's exact test. A model whose accuracy is not
significantly above chance (exact binomial test) is flagged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xbench.errors import InputError
from xbench.languages import LANGUAGES, SOURCE_LANGUAGE
from xbench.runner.report import split_config
from xbench.runner.results import RESULTS_FILE, SAMPLES_FILE, load_results
from xbench.study import stats
from xbench.study.plan import STUDY_FILE

REPORT_DIR = "report"
BINARY_METRICS = ("acc",)
_LANG_ORDER = {code: i for i, code in enumerate(LANGUAGES)}


@dataclass
class Row:
    evaluation: str
    variant: str
    model: str
    training: str
    config: str
    language: str
    format: str
    metric: str
    value: float
    stderr: float
    n: int
    at_chance: bool | None = None
    reference: str = ""  # the English row the gap is measured against
    gap: float | None = None
    gap_low: float | None = None
    gap_high: float | None = None
    p_value: float | None = None  # McNemar (accuracy); None for continuous metrics
    paper: float | None = None
    paper_source: str = ""
    scores: dict[str, float] = field(default_factory=dict, repr=False)  # per question id


def read_study(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise InputError(f"{out}: not an xbench study folder (no readable {STUDY_FILE}); run `xbench study run` first") from None


def collect_rows(out: Path, study: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for step in study["steps"]:
        folder = out / step["out"]
        if step["kind"] == "eval" and folder.is_dir():
            rows += _eval_rows(folder, step["labels"])
        elif step["kind"] == "mt" and folder.is_dir():
            rows += _mt_rows(folder, step["labels"])
        elif step["kind"] == "embed" and (folder / RESULTS_FILE).is_file():
            rows += _embed_rows(folder, step["labels"])
    return rows


def _eval_rows(folder: Path, labels: dict[str, str]) -> list[Row]:
    rows = []
    for path in sorted(folder.glob(f"*/{RESULTS_FILE}")):
        result = load_results(path)
        samples = [json.loads(line) for line in (path.parent / SAMPLES_FILE).read_text(encoding="utf-8").splitlines() if line.strip()]
        lang, fmt = language_and_format(result.config)
        if "acc" in result.metrics:
            scores = {s["id"]: float(bool(s["correct"])) for s in samples}
            metric = "acc"
            correct = int(sum(scores.values()))
            value, stderr = correct / len(scores), stats.binomial_stderr(correct, len(scores))
        else:
            metric = "rougeL_recall" if "rougeL_recall" in result.metrics else next(iter(result.metrics))
            scores = {s["id"]: float(s.get(metric, s.get("rougeL_recall", 0.0))) for s in samples}
            value, stderr = result.metrics[metric].value, result.metrics[metric].stderr
        rows.append(
            Row(**_labels(labels), config=result.config, language=lang, format=fmt, metric=metric, value=value, stderr=stderr, n=len(scores), scores=scores)
        )
    return rows


def language_and_format(config: str) -> tuple[str, str]:
    """``fr_gt_option`` -> (fr, gt_option), ``fr`` -> (fr, full), ``mixup`` -> (en, mixup), ``forget10_perturbed_fr`` -> (fr, full)."""
    if config == SOURCE_LANGUAGE:
        return SOURCE_LANGUAGE, SOURCE_LANGUAGE
    if config.startswith("mixup"):
        return SOURCE_LANGUAGE, "mixup"
    tail = config.rsplit("_", 1)[-1]
    if _config_language(config) == SOURCE_LANGUAGE and tail in LANGUAGES:  # TOFU: <subset>_<lang>
        return tail, SOURCE_LANGUAGE if tail == SOURCE_LANGUAGE else "full"
    return _config_language(config), split_config(config)[1]


def _config_language(config: str) -> str:
    """``fr_gt_option`` -> fr, ``de`` -> de, ``mixup`` / ``en`` -> en."""
    head = config.split("_")[0]
    return head if head in LANGUAGES else SOURCE_LANGUAGE


def is_english_reference(config: str) -> bool:
    """The English config a gap is measured against: ``en``, or ``<subset>_en`` for TOFU."""
    return config == SOURCE_LANGUAGE or (config.endswith("_" + SOURCE_LANGUAGE) and language_and_format(config)[1] == SOURCE_LANGUAGE)


def _labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: labels.get(k, "") for k in ("evaluation", "variant", "model", "training")}


def _mt_rows(folder: Path, labels: dict[str, str]) -> list[Row]:
    rows = []
    for path in sorted(folder.glob(f"*/*/{RESULTS_FILE}")):
        result = load_results(path)
        source, _, target = result.config.partition("-")
        for metric, value in result.metrics.items():
            rows.append(
                Row(
                    labels.get("evaluation", ""),
                    path.parent.parent.name,
                    labels.get("model", ""),
                    labels.get("training", ""),
                    result.config,
                    target if source == SOURCE_LANGUAGE else source,
                    "mt",
                    metric,
                    value.value,
                    float("nan"),
                    result.n_samples,
                )
            )
    return rows


def _embed_rows(folder: Path, labels: dict[str, str]) -> list[Row]:
    result = load_results(folder / RESULTS_FILE)
    rows = []
    for name, metric in result.metrics.items():
        if name.startswith("cos_"):
            rows.append(
                Row(
                    **_labels(labels),
                    config=name.removeprefix("cos_"),
                    language="",
                    format="embed",
                    metric="cosine",
                    value=metric.value,
                    stderr=metric.stderr,
                    n=result.n_samples,
                )
            )
    return rows


def add_statistics(rows: list[Row], chance: float | None, seed: int = 0) -> None:
    """Gap to the English row of the same evaluation, model and training (same variant, else the first)."""
    english: dict[tuple, Row] = {}
    for row in rows:
        if is_english_reference(row.config):
            english.setdefault((row.evaluation, row.variant, row.model, row.training, row.metric), row)
            english.setdefault((row.evaluation, "*", row.model, row.training, row.metric), row)
    for row in rows:
        if chance is not None and row.metric in BINARY_METRICS:
            row.at_chance = stats.at_chance(round(row.value * row.n), row.n, chance)
        if not row.scores or is_english_reference(row.config):
            continue
        ref = english.get((row.evaluation, row.variant, row.model, row.training, row.metric)) or english.get(
            (row.evaluation, "*", row.model, row.training, row.metric)
        )
        if ref is None:
            continue
        shared = [i for i in row.scores if i in ref.scores]
        if not shared:
            continue
        base, other = [ref.scores[i] for i in shared], [row.scores[i] for i in shared]
        interval = stats.paired_bootstrap_gap(base, other, seed=seed)
        row.reference = f"{ref.variant}/{ref.config}"
        row.gap, row.gap_low, row.gap_high = interval.estimate, interval.low, interval.high
        if row.metric in BINARY_METRICS:
            row.p_value = stats.mcnemar_exact([b > 0.5 for b in base], [o > 0.5 for o in other]).p_value


def add_averages(rows: list[Row], languages: list[str]) -> list[Row]:
    """``avg*`` rows: the mean over ``languages`` of each (evaluation, variant, model, training, format, metric)."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        if row.language in languages:
            groups.setdefault((row.evaluation, row.variant, row.model, row.training, row.format, row.metric), []).append(row)
    extra = []
    for (evaluation, variant, model, training, fmt, metric), members in groups.items():
        if len(members) != len(languages):
            continue
        value = sum(m.value for m in members) / len(members)
        stderr = math.sqrt(sum(m.stderr**2 for m in members)) / len(members)
        extra.append(Row(evaluation, variant, model, training, f"avg*_{fmt}", "avg*", fmt, metric, value, stderr, sum(m.n for m in members)))
    return rows + extra


def _normal(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _matches(row: Row, where: dict[str, Any]) -> bool:
    for key, wanted in where.items():
        have = getattr(row, key)
        # the paper's names (Llama3-8B) inside Hub ids (meta-llama/Meta-Llama-3-8B); MT systems are named by model too
        if key == "model" or (key == "variant" and row.format == "mt"):
            if _normal(str(wanted)) not in _normal(have):
                return False
        elif str(have) != str(wanted):
            return False
    return True


def add_published(rows: list[Row], published: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Put each published value beside the row it describes; returns the published values no row matched."""
    unmatched = []
    for entry in published:
        where = {"metric": metric, **entry["where"]}
        hits = [r for r in rows if _matches(r, where)]
        for row in hits:
            row.paper, row.paper_source = float(entry["value"]), entry.get("source") or entry["figure"]
        if not hits:
            unmatched.append(entry)
    return unmatched


def write_report(out: str | Path, plan: Any = None) -> list[Path]:
    """Tables (markdown, CSV, JSON) and the figure of a study folder; returns the files written."""
    out = Path(out)
    study = read_study(out)
    figure_spec = study["steps"][-1]["settings"]["figure"]
    published = study["steps"][-1]["settings"].get("published") or []
    figures = study["steps"][-1]["settings"].get("figures") or []
    rows = collect_rows(out, study)
    if not rows:
        raise InputError(f"{out}: no results yet; run `xbench study run {study['recipe']} --out {out}`")
    chance = figure_spec.get("chance")
    add_statistics(rows, chance)
    if figure_spec.get("average"):
        rows = add_averages(rows, list(figure_spec["average"]))
    groups = {key: i for i, key in enumerate(dict.fromkeys((r.evaluation, r.variant, r.model, r.training) for r in rows))}
    rows.sort(key=lambda row: (groups[(row.evaluation, row.variant, row.model, row.training)], *_order(row)))
    unmatched = add_published(rows, published, figure_spec["metric"])
    folder = out / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        _write(folder / "results.md", markdown_table(rows, study, figures, unmatched)),
        _write(folder / "results.csv", csv_table(rows)),
        _write(
            folder / "results.json",
            json.dumps(
                {
                    "recipe": study["recipe"],
                    "profile": study["profile"],
                    "figures": figures,
                    "rows": [public_dict(r) for r in rows],
                    "published_unmatched": unmatched,
                },
                indent=2,
                ensure_ascii=False,
                allow_nan=False,
                default=_nan_none,
            )
            + "\n",
        ),
    ]
    written.append(draw_figure(rows, figure_spec, folder / "figure.png", f"{study['recipe']} ({', '.join(figures)})"))
    return written


def _nan_none(value: Any) -> Any:
    return None


def _order(row: Row) -> tuple:
    """Within one evaluation, variant, model and training: English first, then the study's language order."""
    return (row.metric, not is_english_reference(row.config), _LANG_ORDER.get(row.language, 99), row.config)


def public_dict(row: Row) -> dict[str, Any]:
    data = asdict(row)
    data.pop("scores")
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


LEGEND = (
    "gap: value minus the English config of the same evaluation, model and training, on the questions both share; "
    "95% CI: paired bootstrap (2000 resamples, seed 0); McNemar p: exact test on the discordant questions; "
    "at chance: not significantly above chance (one-sided exact binomial test, alpha 0.05)."
)
COLUMNS = ("evaluation", "variant", "model", "training", "config", "metric", "value", "stderr", "n", "paper", "gap", "gap 95% CI", "McNemar p", "flag")


def _cells(row: Row) -> list[str]:
    ci = f"[{_fmt(row.gap_low)}, {_fmt(row.gap_high)}]" if row.gap is not None else ""
    flag = "at chance" if row.at_chance else ""
    return [
        row.evaluation,
        row.variant,
        row.model,
        row.training,
        row.config,
        row.metric,
        _fmt(row.value),
        _fmt(row.stderr),
        str(row.n),
        _fmt(row.paper),
        _fmt(row.gap),
        ci,
        _p(row.p_value),
        flag,
    ]


def markdown_table(rows: list[Row], study: dict[str, Any], figures: list[str], unmatched: list[dict[str, Any]]) -> str:
    lines = [
        f"# {study['recipe']}: {', '.join(figures)}",
        "",
        f"profile: {study['profile']}; models: {', '.join(study['models'])}; xbench {study.get('xbench_version', '')}",
        "",
        LEGEND,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(row)) + " |" for row in rows]
    if unmatched:
        lines += ["", "## Published values without a matching run", "", "| figure | where | value | source |", "|---|---|---|---|"]
        lines += [f"| {e['figure']} | {', '.join(f'{k}={v}' for k, v in e['where'].items())} | {e['value']} | {e.get('source', '')} |" for e in unmatched]
    return "\n".join(lines) + "\n"


def csv_table(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [k for k in public_dict(rows[0])] if rows else []
    writer.writerow(names)
    for row in rows:
        data = public_dict(row)
        writer.writerow(["" if data[k] is None else data[k] for k in names])
    return buffer.getvalue()


def draw_figure(rows: list[Row], spec: dict[str, Any], path: Path, title: str) -> Path:
    """Grouped bars: ``x`` along the axis, ``hue`` as bars, one panel per ``panel`` value; error bars,
    the chance line, and the paper's values as black diamonds where published."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [r for r in rows if r.metric == spec["metric"]]
    for column, values in (spec.get("where") or {}).items():
        chosen = [r for r in chosen if getattr(r, column) in [str(v) for v in values]]
    panel_key, hue_key, x_key = spec.get("panel", "model"), spec.get("hue", "training"), spec["x"]
    used = {panel_key, hue_key, x_key}

    def panel_of(row: Row) -> str:
        """The panel column, plus model and variant when neither the axis nor the bars show them."""
        parts = [getattr(row, panel_key)]
        parts += [getattr(row, extra) for extra in ("model", "variant", "evaluation") if extra not in used and len({getattr(r, extra) for r in chosen}) > 1]
        return " | ".join(str(p) for p in parts)

    panels = list(dict.fromkeys(panel_of(r) for r in chosen)) or [""]
    columns = min(len(panels), 3)
    lines = math.ceil(len(panels) / columns)
    width = max(4.5, 0.45 * len({getattr(r, x_key) for r in chosen}) * max(1, len({getattr(r, hue_key) for r in chosen})) / 2)
    fig, axes = plt.subplots(lines, columns, figsize=(width * columns, 3.8 * lines), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        mine = [r for r in chosen if panel_of(r) == panel]
        xs = list(dict.fromkeys(getattr(r, x_key) for r in mine))
        hues = list(dict.fromkeys(getattr(r, hue_key) for r in mine))
        width = 0.8 / max(1, len(hues))
        for i, hue in enumerate(hues):
            by_x = {getattr(r, x_key): r for r in mine if getattr(r, hue_key) == hue}
            positions = [x + (i - (len(hues) - 1) / 2) * width for x in range(len(xs))]
            values = [by_x[x].value if x in by_x else math.nan for x in xs]
            errors = [by_x[x].stderr if x in by_x and not math.isnan(by_x[x].stderr) else 0.0 for x in xs]
            ax.bar(positions, values, width, yerr=errors, capsize=2, label=str(hue))
            paper = [(p, by_x[x].paper) for p, x in zip(positions, xs) if x in by_x and by_x[x].paper is not None]
            if paper:
                ax.scatter([p for p, _ in paper], [v for _, v in paper], marker="D", color="black", s=14, zorder=3, label="paper" if i == 0 else None)
        if spec.get("chance") is not None:
            ax.axhline(spec["chance"], color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_xticks(range(len(xs)), xs, rotation=45 if len(xs) > 6 else 0, ha="right" if len(xs) > 6 else "center")
        ax.set_xlabel(x_key)
        ax.set_ylabel(spec["ylabel"])
        ax.set_title(str(panel), fontsize="small")
        ax.legend(fontsize="x-small", ncol=2)
    fig.suptitle(spec.get("title") or title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path
