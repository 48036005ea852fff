"""Per-item crosslingual metrics of one config against English on the same items.

Pure numpy functions over the per-question records of ``samples.jsonl``, matched by ``id``:

- accuracy and the gap to English with a paired bootstrap interval and McNemar's exact p;
- transfer, P(correct_L | correct_en), and overall, P(correct_en and correct_L) (ECLeKTic, 2025);
- COverlap, correct in both over correct in either, and RankC, the consistency of the ranking of
  the options' probabilities (Qi et al., EMNLP 2023, BMLAMA);
- answer consistency, the same option chosen in both, right or wrong;
- per model, the best-minus-worst gap across languages (MultiLoKo, 2025).

The bootstrap intervals resample item pairs, seeded by ``seed``, with numpy's ``default_rng``: for
1/0 scores as a multinomial draw of the four (English, L) cells (``cell_bootstrap``), otherwise by
resampling indices (``paired_bootstrap``). Neither is the stream of
``xbench.study.stats.paired_bootstrap_gap`` (Python's ``random``), so the end points differ from that
function's within the bootstrap's own noise.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xbench.errors import InputError
from xbench.languages import SOURCE_LANGUAGE
from xbench.runner.option_pull import PREFERENCE_DEFINITION, build_option_pull, is_mixed
from xbench.runner.results import EVAL, RESULTS_FILE, SAMPLES_FILE, RunResult, load_results, read_samples

# Each number's definition and the paper it comes from, written into report.json beside it.
DEFINITIONS: dict[str, tuple[str, str]] = {
    "accuracy": ("share of items whose predicted option is the answer", "-"),
    "gap": ("accuracy_L - accuracy_en over the same items; paired percentile bootstrap interval over items", "Koehn 2004 (paired bootstrap)"),
    "mcnemar_p": ("two-sided exact binomial test on the discordant items (right in one language only)", "McNemar 1947"),
    "transfer": ("P(correct_L | correct_en): of the items right in English, the share also right in L", "ECLeKTic (Goldman et al., 2025)"),
    "overall": ("P(correct_en and correct_L): the share of items right in both", "ECLeKTic (Goldman et al., 2025)"),
    "coverlap": ("items right in both over items right in either", "Qi et al., EMNLP 2023 (BMLAMA)"),
    "consistency": ("share of items where the same option is chosen in both languages, right or wrong", "Qi et al., EMNLP 2023 (BMLAMA)"),
    "rankc": (
        "mean over items of sum_j w_j |top_j(en) & top_j(L)| / j, w_j = softmax(N - j) over the N options' probabilities",
        "Qi et al., EMNLP 2023 (BMLAMA)",
    ),
    "english_preference": (
        PREFERENCE_DEFINITION + "; pick rates by option language x correctness, accuracy by (question, correct option) language",
        "this package (the study's GT-option finding, Chua et al.)",
    ),
    "best_minus_worst": ("per model, the highest minus the lowest accuracy across its non-English configs", "MultiLoKo (Hupkes & Bogoychev, 2025)"),
}


@dataclass(frozen=True)
class Estimate:
    """A number with its percentile bootstrap interval (nan where undefined, e.g. no item right in English)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """One config against the English config of the same build on the same n items."""

    config: str
    n: int
    accuracy: float
    accuracy_en: float
    gap: Estimate
    mcnemar_b: int  # right in English only
    mcnemar_c: int  # right in L only
    mcnemar_p: float
    transfer: Estimate
    overall: Estimate
    coverlap: float
    consistency: float
    rankc: float | None
    rankc_reason: str | None  # why RankC is not available, when it is not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p on b and c discordant items (statsmodels ``mcnemar(exact=True)``)."""
    n = b + c
    if n == 0:
        return 1.0
    k = np.arange(min(b, c) + 1)
    log_terms = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k]) - n * math.log(2)
    top = log_terms.max()
    return float(min(1.0, 2 * math.exp(top) * np.exp(log_terms - top).sum()))


def bootstrap_indices(n: int, resamples: int, seed: int, chunk: int = 250):
    """Yield (rows, n) blocks of resampled item indices; chunked so 14,042 x 2,000 stays small in memory."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def paired_bootstrap(
    numerators: Sequence[np.ndarray], denominators: Sequence[np.ndarray], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> list[Estimate]:
    """sum(num)/sum(den) per pair of per-item arrays, each with a percentile interval from the same resampled items."""
    n = len(numerators[0])
    points = [_ratio(num.sum(), den.sum()) for num, den in zip(numerators, denominators)]
    if n == 0:
        return [Estimate(math.nan, math.nan, math.nan) for _ in numerators]
    draws: list[list[np.ndarray]] = [[] for _ in numerators]
    for idx in bootstrap_indices(n, resamples, seed):
        for k, (num, den) in enumerate(zip(numerators, denominators)):
            top, bottom = num[idx].sum(axis=1), den[idx].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                draws[k].append(np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan))
    return _percentile_estimates(points, [np.concatenate(parts) for parts in draws], level)


def cell_bootstrap(right_en: np.ndarray, right_l: np.ndarray, *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> list[Estimate]:
    """Gap, transfer and overall with percentile intervals from the paired bootstrap of 1/0 scores.

    Resampling n item pairs with replacement is a multinomial draw of the four cells (right in
    both, English only, L only, neither): the same distribution as resampling items, at a cost
    independent of n.
    """
    n = len(right_en)
    both = int((right_en * right_l).sum())
    en_only = int(right_en.sum()) - both
    l_only = int(right_l.sum()) - both
    cells = np.array([both, en_only, l_only, n - both - en_only - l_only], dtype=float)
    points = [_ratio(l_only - en_only, n), _ratio(both, both + en_only), _ratio(both, n)]
    if n == 0:
        return [Estimate(math.nan, math.nan, math.nan) for _ in points]
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=resamples).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        transfer = np.where(draws[:, 0] + draws[:, 1] > 0, draws[:, 0] / (draws[:, 0] + draws[:, 1]), np.nan)
    samples = [(draws[:, 2] - draws[:, 1]) / n, transfer, draws[:, 0] / n]
    return _percentile_estimates(points, samples, level)


def _percentile_estimates(points: list[float], samples: list[np.ndarray], level: float) -> list[Estimate]:
    """Each point with the percentile interval of its bootstrap samples (NaN draws left out)."""
    alpha = (1 - level) / 2
    out = []
    for point, values in zip(points, samples):
        values = values[~np.isnan(values)]
        if math.isnan(point) or values.size == 0:
            out.append(Estimate(point, math.nan, math.nan))
        else:
            low, high = np.quantile(values, [alpha, 1 - alpha])
            out.append(Estimate(point, float(low), float(high)))
    return out


def _ratio(top: float, bottom: float) -> float:
    return float(top / bottom) if bottom > 0 else math.nan


def rank_consistency(probs_en: np.ndarray, probs_l: np.ndarray) -> float:
    """RankC (Qi et al. 2023): mean over items of sum_j w_j P@j, P@j = |top_j(en) & top_j(L)| / j, w_j = e^(N-j) / sum_k e^(N-k).

    Ties keep the options' order (a stable sort), so equal probabilities rank the earlier option first.
    """
    items, n_options = probs_en.shape
    order_en = np.argsort(-probs_en, axis=1, kind="stable")
    order_l = np.argsort(-probs_l, axis=1, kind="stable")
    weights = np.exp(n_options - np.arange(1, n_options + 1, dtype=float))
    weights /= weights.sum()
    in_en = np.zeros((items, n_options), dtype=bool)
    in_l = np.zeros((items, n_options), dtype=bool)
    rows = np.arange(items)
    total = np.zeros(items)
    for j in range(n_options):
        in_en[rows, order_en[:, j]] = True
        in_l[rows, order_l[:, j]] = True
        total += weights[j] * (in_en & in_l).sum(axis=1) / (j + 1)
    return float(total.mean()) if items else math.nan


def align(english: Sequence[Any], other: Sequence[Any], names: tuple[str, str]) -> tuple[list[Any], list[Any]]:
    """The two configs' samples in the same item order, matched by ``id``; refuses different item sets, naming both."""
    en_by_id = {s.id: s for s in english}
    other_by_id = {s.id: s for s in other}
    if en_by_id.keys() != other_by_id.keys():
        only_en = sorted(en_by_id.keys() - other_by_id.keys())
        only_l = sorted(other_by_id.keys() - en_by_id.keys())
        example = (only_en or only_l)[0]
        raise InputError(
            f"{names[0]} and {names[1]} did not score the same items ({len(only_en)} only in the first, {len(only_l)} only in the second, e.g. {example!r}); "
            "score both on the same build and rows"
        )
    ids = sorted(en_by_id)
    return [en_by_id[i] for i in ids], [other_by_id[i] for i in ids]


def check_same_build(signatures: dict[str, str | None]) -> None:
    """Refuse runs that scored different builds: {run name: build signature}."""
    distinct = {}
    for name, sig in signatures.items():
        distinct.setdefault(sig, name)
    if len(distinct) > 1:
        (sig_a, run_a), (sig_b, run_b) = list(distinct.items())[:2]
        raise InputError(f"{run_a} scored build {sig_a} but {run_b} scored build {sig_b}; compare runs of the same build")


def _probabilities(samples: Sequence[Any]) -> np.ndarray | None:
    probs = [s.probs for s in samples]
    if not probs or any(not p for p in probs) or len({len(p) for p in probs}) != 1:
        return None
    array = np.asarray(probs, dtype=float)
    return None if np.isnan(array).any() else array


def compare(
    config: str, english: Sequence[Any], other: Sequence[Any], *, resamples: int = 2000, seed: int = 0, names: tuple[str, str] = ("en", "L")
) -> Comparison:
    """Every per-item metric of ``other`` against ``english`` (Sample records of the same items)."""
    en, lang = align(english, other, names)
    right_en = np.array([s.correct for s in en], dtype=float)
    right_l = np.array([s.correct for s in lang], dtype=float)
    both = right_en * right_l
    gap, transfer, overall = cell_bootstrap(right_en, right_l, resamples=resamples, seed=seed)
    b = int(((right_en == 1) & (right_l == 0)).sum())
    c = int(((right_en == 0) & (right_l == 1)).sum())
    either = float(np.maximum(right_en, right_l).sum())
    same_choice = float(np.mean([a.prediction == o.prediction for a, o in zip(en, lang)])) if en else math.nan
    probs_en, probs_l = _probabilities(en), _probabilities(lang)
    if probs_en is None or probs_l is None or probs_en.shape != probs_l.shape:
        rankc, reason = None, "no option probabilities in one of the runs (e.g. first-token scoring through an API)"
    else:
        rankc, reason = rank_consistency(probs_en, probs_l), None
    n = len(en)
    return Comparison(
        config=config,
        n=n,
        accuracy=float(right_l.mean()) if n else math.nan,
        accuracy_en=float(right_en.mean()) if n else math.nan,
        gap=gap,
        mcnemar_b=b,
        mcnemar_c=c,
        mcnemar_p=mcnemar_exact_p(b, c),
        transfer=transfer,
        overall=overall,
        coverlap=_ratio(float(both.sum()), either),
        consistency=same_choice,
        rankc=rankc,
        rankc_reason=reason,
    )


def best_minus_worst(comparisons: Sequence[Comparison]) -> float:
    """MultiLoKo's gap: the highest minus the lowest accuracy across one model's non-English configs."""
    values = [c.accuracy for c in comparisons if not math.isnan(c.accuracy)]
    return max(values) - min(values) if values else math.nan


def needed_n(english: np.ndarray, other: np.ndarray, z: float = 1.96) -> float:
    """Items a paired interval needs to exclude 0 at the observed gap: (z sd(d) / |mean(d)|)^2, d = other - english."""
    d = other - english
    gap = abs(float(d.mean())) if d.size else 0.0
    return math.inf if gap == 0 else (z * float(d.std(ddof=1) if d.size > 1 else 0.0) / gap) ** 2


def run_comparisons(runs: Sequence[str | Path], *, resamples: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """For every multiple-choice run of ``runs`` with an English config: one record per other config, with every metric.

    Runs of one dataset must share a build signature; each config's samples.jsonl must hold the English config's items.
    """
    loaded = _load_runs(runs)
    by_dataset: dict[str, dict[str, str | None]] = defaultdict(dict)
    for r, folder in loaded:
        if r.kind == EVAL:
            by_dataset[Path(r.dataset).name][str(folder)] = r.build_signature
    for signatures in by_dataset.values():
        check_same_build(signatures)
    groups: dict[tuple[str, str, str], list[tuple[RunResult, Path]]] = defaultdict(list)
    for result, folder in loaded:
        if result.kind == EVAL and "acc" in result.metrics:
            groups[(result.model, Path(result.dataset).name, json.dumps(result.settings, sort_keys=True))].append((result, folder))
    records = []
    for (model, dataset, setting), members in groups.items():
        english = next(((r, f) for r, f in members if r.config == SOURCE_LANGUAGE), None)
        if english is None or not (english[1] / SAMPLES_FILE).is_file():
            continue  # no English config, or a results.json given without its samples: accuracy only
        en_samples = read_samples(english[1] / SAMPLES_FILE)
        comparisons = []
        for result, folder in members:
            if result.config == SOURCE_LANGUAGE or not (folder / SAMPLES_FILE).is_file():
                continue
            samples = read_samples(folder / SAMPLES_FILE)
            c = compare(result.config, en_samples, samples, resamples=resamples, seed=seed, names=(str(english[1]), str(folder)))
            en, lang = align(en_samples, samples, (str(english[1]), str(folder)))
            need = needed_n(np.array([s.correct for s in en], float), np.array([s.correct for s in lang], float))
            comparisons.append(c)
            record = {"model": model, "dataset": dataset, "setting": setting, **c.to_dict(), "n_needed": need, "flags": list(result.flags)}
            if is_mixed(result.config):
                record["option_pull"] = build_option_pull(result.dataset, result.config, result.split, samples, resamples=resamples, seed=seed)
            records.append(record)
        spread = best_minus_worst(comparisons)
        for record in records:
            if (record["model"], record["dataset"], record["setting"]) == (model, dataset, setting):
                record["best_minus_worst"] = spread
    return records


def _load_runs(runs: Sequence[str | Path]) -> list[tuple[RunResult, Path]]:
    out = []
    for run in runs:
        path = Path(run)
        files = [path] if path.is_file() else sorted(path.rglob(RESULTS_FILE))
        if not files:
            raise InputError(f"{path}: no {RESULTS_FILE} found")
        out.extend((load_results(f), f.parent) for f in files)
    return out


def warnings(records: Sequence[dict[str, Any]]) -> list[str]:
    """One line per comparison whose gap interval includes 0: the n it would need at the observed gap."""
    lines = []
    for r in records:
        gap = r["gap"]
        if not (gap["low"] > 0 or gap["high"] < 0):
            need = "any n (the gap is 0)" if math.isinf(r["n_needed"]) else f"about {math.ceil(r['n_needed'])} items"
            lines.append(
                f"{r['model']} {r['config']}: gap {gap['value']:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}] includes 0 at n={r['n']}; excluding 0 at this gap needs {need}"
            )
    return lines


def write_transfer(records: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """transfer.md, transfer.csv and transfer.json (the records, with each number's definition and citation)."""
    out.mkdir(parents=True, exist_ok=True)
    md = [
        "| model | config | n | acc | acc en | gap [95% CI] | McNemar p | transfer [95% CI] | overall | COverlap | consistency | RankC |",
        "|---|" + "---|" * 11,
    ]
    rows = []
    for r in records:
        rankc = "n/a" if r["rankc"] is None else f"{r['rankc']:.3f}"
        g, t, o = r["gap"], r["transfer"], r["overall"]
        md.append(
            f"| {r['model']} | {r['config']} | {r['n']} | {r['accuracy']:.3f} | {r['accuracy_en']:.3f} | {g['value']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] | "
            f"{r['mcnemar_p']:.3g} | {t['value']:.3f} [{t['low']:.3f}, {t['high']:.3f}] | {o['value']:.3f} | {r['coverlap']:.3f} | {r['consistency']:.3f} | {rankc} |"
        )
        rows.append(_flat({k: v for k, v in r.items() if k != "option_pull"}))
    md += _option_pull_table(records)
    notes = warnings(records)
    md += ["", *(f"- warning: {line}" for line in notes)] if notes else []
    md += ["", "Definitions:", "", *(f"- {name}: {text} ({cite})" for name, (text, cite) in DEFINITIONS.items())]
    paths = [out / "transfer.md", out / "transfer.csv", out / "transfer.json"]
    paths[0].write_text("\n".join(md) + "\n", encoding="utf-8")
    with open(paths[1], "w", encoding="utf-8", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=list(rows[0]) if rows else ["model"])
        writer.writeheader()
        writer.writerows(rows)
    document = {"definitions": {k: {"definition": d, "source": s} for k, (d, s) in DEFINITIONS.items()}, "comparisons": list(records), "warnings": notes}
    paths[2].write_text(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=True) + "\n", encoding="utf-8")
    return paths


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            flat[key] = "; ".join(map(str, value))
        else:
            flat[key] = value
    return flat


def _option_pull_table(records: Sequence[dict[str, Any]]) -> list[str]:
    pulls = [r for r in records if "option_pull" in r]
    if not pulls:
        return []
    md = [
        "",
        "English-option preference (mixed formats):",
        "",
        "| model | config | n | log OR en vs translated [95% CI] | pick en correct | pick tr correct | pick en wrong | pick tr wrong | acc by (question/correct option) language |",
        "|---|" + "---|" * 8,
    ]
    for r in pulls:
        p = r["option_pull"]
        if "reason" in p:
            md.append(f"| {r['model']} | {r['config']} | - | n/a: {p['reason']} | | | | | |")
            continue
        e, k = p["english_preference"], p["pick_rate"]
        by = ", ".join(f"{lang} {v['accuracy']:.3f} (n={v['n']})" for lang, v in p["accuracy_by_languages"].items())
        md.append(
            f"| {r['model']} | {r['config']} | {p['n']} | {e['value']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}] | {k['en_correct']:.3f} | "
            f"{k['translated_correct']:.3f} | {k['en_wrong']:.3f} | {k['translated_wrong']:.3f} | {by} |"
        )
    return md
