"""Figures for a paper: accuracy per language and format, and the gap to English, all models in one figure.

Each figure has one panel per model (same axes), bars per format within each language group,
the mixup configs as their own group, error bars of one standard error, the chance line and
English as a dashed line. A missing config is marked ``n/a`` so it never reads as zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from xbench.formats import FORMATS
from xbench.languages import SOURCE_LANGUAGE
from xbench.runner.report import _config_order, check_plot_target, headline_metric, split_config
from xbench.runner.results import EVAL, Metric, RunResult

MIXUP_GROUP = "mixup"
MAX_BAR_WIDTH = 0.25
GAP_FLOOR = 0.2  # the gap axis spans at least +-0.2: a 2-question difference stays small


def short_model_name(model: str, others: list[str]) -> str:
    """``/home/me/ckpt/SmolLM2-135M`` or ``HuggingFaceTB/SmolLM2-135M`` -> ``SmolLM2-135M`` unless that collides."""
    short = Path(model.rstrip("/")).name or model
    clashes = [o for o in others if (Path(o.rstrip("/")).name or o) == short]
    return short if len(set(clashes)) <= 1 else model


def _panels(results: list[RunResult]) -> dict[tuple[str, str], dict[str, dict[str, RunResult]]]:
    """{(dataset, setting): {model: {config: result}}}, multiple-choice results only."""
    groups: dict[tuple[str, str], dict[str, dict[str, RunResult]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        if r.kind != EVAL or headline_metric(r)[0] != "acc":
            continue
        p = r.prompt
        setting = f"{p.shots}-shot, demos {p.demos}, ids {p.ids}, {p.strategy}" + (f", {p.instruction}" if p.instruction != "none" else "")
        groups[(Path(r.dataset).name or r.dataset, setting)][r.model][r.config] = r
    return groups


def _layout(configs: list[str]) -> tuple[list[str], list[str]]:
    """(x groups: languages then mixup, bar series: formats in the study's order then mixup pools)."""
    groups, series = [], []
    for config in sorted(configs, key=_config_order):
        lang, fmt = split_config(config)
        if lang == SOURCE_LANGUAGE:
            continue
        group = MIXUP_GROUP if lang == fmt else lang
        groups.append(group)
        series.append(fmt)
    ordered = [f for f in FORMATS if f in series] + [s for s in dict.fromkeys(series) if s not in FORMATS]
    return list(dict.fromkeys(g for g in groups if g != MIXUP_GROUP)) + ([MIXUP_GROUP] if MIXUP_GROUP in groups else []), ordered


def _config_for(group: str, fmt: str, configs: set[str]) -> str | None:
    for config in configs:
        lang, f = split_config(config)
        if f == fmt and (lang == group or (group == MIXUP_GROUP and lang == f)):
            return config
    return None


def plot(results: list[RunResult], out: Path) -> list[Path]:
    """accuracy.png/.pdf and gap.png/.pdf (one set per dataset and prompt setting); returns the PNG paths."""
    check_plot_target(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out.mkdir(parents=True, exist_ok=True)
    panels = _panels(results)
    written = []
    for index, ((dataset, setting), by_model) in enumerate(panels.items()):
        suffix = "" if len(panels) == 1 else f"_{index + 1}"
        configs = {c for per in by_model.values() for c in per}
        groups, series = _layout(list(configs))
        if not groups:
            continue
        models = list(by_model)
        names = [short_model_name(m, models) for m in models]
        n_options = len(next(iter(next(iter(by_model.values())).values())).prompt.ids)
        for kind in ("accuracy", "gap"):
            english = {m: by_model[m].get(SOURCE_LANGUAGE) for m in models}
            if kind == "gap" and not any(english.values()):
                continue
            width = max(6.0, 0.3 * len(groups) * len(series) + 2.5)
            fig, axes = plt.subplots(len(models), 1, figsize=(width, 2.4 * len(models) + 1.0), sharex=True, sharey=True, squeeze=False, layout="constrained")
            gaps = []
            for ax, model, name in zip(axes[:, 0], models, names):
                gaps += _draw_panel(ax, kind, by_model[model], english[model], groups, series, configs, n_options)
                ax.set_title(name, fontsize="medium", loc="left")
                ax.set_ylabel("accuracy" if kind == "accuracy" else "accuracy − English")
            limit = max(GAP_FLOOR, math.ceil(max(gaps, default=0) * 10) / 10)
            axes[0, 0].set_ylim(*((0, 1) if kind == "accuracy" else (-limit, limit)))
            axes[-1, 0].set_xticks(range(len(groups)), groups)
            handles = [Patch(facecolor=f"C{i}", edgecolor="black", linewidth=0.4, label=fmt) for i, fmt in enumerate(series)]
            if kind == "accuracy":
                handles += [
                    Line2D([], [], color="firebrick", linestyle=":", label=f"chance ({1 / n_options:.2f})"),
                    Line2D([], [], color="black", linestyle="--", label="English"),
                ]
            fig.legend(handles=handles, loc="outside lower center", fontsize="small", ncol=min(6, len(handles)), frameon=False)
            title = f"{dataset}: {'accuracy' if kind == 'accuracy' else 'gap to English'} ({setting})"
            fig.suptitle(title, fontsize="medium", x=0.01, ha="left")
            for ext in ("png", "pdf"):
                fig.savefig(out / f"{kind}{suffix}.{ext}", dpi=150)
            plt.close(fig)
            written.append(out / f"{kind}{suffix}.png")
    return written


def _draw_panel(ax, kind, scores, english, groups, series, configs, n_options) -> list[float]:
    """Bars for one model; returns |gap| + stderr of each bar (to size the gap axis)."""
    base = english.metrics["acc"] if english is not None else None
    present = {group: [fmt for fmt in series if _config_for(group, fmt, configs) is not None] for group in groups}
    width = min(MAX_BAR_WIDTH, 0.8 / max(len(p) for p in present.values()))
    slots = {}  # (group, format) -> x: each group's bars centred on its tick
    for g, group in enumerate(groups):
        for k, fmt in enumerate(present[group]):
            slots[(group, fmt)] = g + (k - (len(present[group]) - 1) / 2) * width
    extents = []
    for i, fmt in enumerate(series):
        xs, values, errors = [], [], []
        for group in groups:
            config = _config_for(group, fmt, configs)
            if config is None:
                continue
            x = slots[(group, fmt)]
            result = scores.get(config)
            if result is None:
                ax.text(x, 0.01 if kind == "accuracy" else 0.0, "n/a", ha="center", va="bottom", fontsize="x-small", rotation=90, color="grey")
                continue
            metric: Metric = result.metrics["acc"]
            value = metric.value - (base.value if kind == "gap" and base is not None else 0.0)
            if kind == "gap" and base is None:
                continue
            error = metric.stderr if math.isfinite(metric.stderr) else 0.0
            if kind == "gap" and math.isfinite(base.stderr):
                error = math.hypot(error, base.stderr)  # as if independent: the same questions in both only narrow it
            xs.append(x)
            values.append(value)
            errors.append(error)
            extents.append(abs(value) + error)
        ax.bar(xs, values, width, yerr=errors, capsize=2, label=fmt, color=f"C{i}", edgecolor="black", linewidth=0.4, error_kw={"linewidth": 0.8})
    if kind == "accuracy":
        ax.axhline(1 / n_options, color="firebrick", linestyle=":", linewidth=1)
        if base is not None:
            ax.axhline(base.value, color="black", linestyle="--", linewidth=1)
    else:
        ax.axhline(0, color="black", linewidth=0.8)
    ax.grid(axis="y", linewidth=0.3, alpha=0.6)
    ax.set_axisbelow(True)
    return extents
