"""The pull of English options in the mixed formats (gt_option, one_wrong, three_wrong, options, mixup).

samples.jsonl records the predicted option but not the options' languages; those are the build's
``choice_langs`` (and ``question_lang``), read from the build's rows by ``id``. Per config:

- the pick rate by option language (English or translated) x correctness;
- the English-option preference: the Mantel-Haenszel log odds ratio of an option being picked when
  it is in English rather than translated, over the option units of all items, stratified by
  whether the option is the correct one; percentile bootstrap interval over items;
- accuracy by (question language, the correct option's language).

The Mantel-Haenszel estimate treats each option as a unit; the four options of an item compete for
one pick, so it is an association measure (0 when the model ignores the options' language), not
the coefficient of a choice model.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xbench.languages import SOURCE_LANGUAGE

MIXED_FORMATS = ("gt_option", "one_wrong", "three_wrong", "options", "mixup")
PREFERENCE_DEFINITION = (
    "Mantel-Haenszel log odds ratio of an option being picked when in English vs translated, stratified by "
    "correctness, over the options of all items; percentile bootstrap interval over items"
)


def item_tables(samples: Sequence[Any], choice_langs: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Per item, a (2 strata: wrong/correct option) x (English picked, English not, translated picked, translated not) count table."""
    tables = np.zeros((len(samples), 2, 4))
    for i, sample in enumerate(samples):
        for option, lang in enumerate(choice_langs[sample.id]):
            stratum = int(option == sample.target)
            picked = option == sample.prediction
            column = (0 if lang == SOURCE_LANGUAGE else 2) + (0 if picked else 1)
            tables[i, stratum, column] += 1
    return tables


def mantel_haenszel_log_or(tables: np.ndarray) -> np.ndarray:
    """log of sum_k a_k d_k / n_k over sum_k b_k c_k / n_k, from summed (..., 2, 4) tables (a: English picked, d: translated not)."""
    a, b, c, d = (tables[..., j] for j in range(4))
    n = tables.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.where(n > 0, a * d / n, 0.0).sum(axis=-1)
        bottom = np.where(n > 0, b * c / n, 0.0).sum(axis=-1)
        return np.log(top / bottom)


def english_preference(tables: np.ndarray, *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """The log odds ratio and its bootstrap interval (nan where an item set has no English or no translated option)."""
    value = float(mantel_haenszel_log_or(tables.sum(axis=0)))
    n = len(tables)
    if n == 0:
        return {"value": math.nan, "low": math.nan, "high": math.nan}
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, resamples, 250):
        weights = rng.multinomial(n, np.full(n, 1 / n), size=min(250, resamples - start))
        draws.append(mantel_haenszel_log_or(np.einsum("ri,ikj->rkj", weights, tables)))
    boot = np.concatenate(draws)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0 or not math.isfinite(value):
        return {"value": value, "low": math.nan, "high": math.nan}
    tail = (1 - level) / 2 * 100
    return {"value": value, "low": float(np.percentile(boot, tail)), "high": float(np.percentile(boot, 100 - tail))}


def pick_rates(tables: np.ndarray) -> dict[str, float]:
    """Share of options picked, by option language (en / translated) x correctness (correct / wrong)."""
    total = tables.sum(axis=0)
    out = {}
    for stratum, name in ((1, "correct"), (0, "wrong")):
        for offset, lang in ((0, "en"), (2, "translated")):
            picked, not_picked = total[stratum, offset], total[stratum, offset + 1]
            out[f"{lang}_{name}"] = float(picked / (picked + not_picked)) if picked + not_picked else math.nan
    return out


def accuracy_by_languages(samples: Sequence[Any], rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Accuracy and n by 'question language/correct option's language', e.g. 'en/fr'."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for s in samples:
        row = rows[s.id]
        groups[f"{row['question_lang']}/{row['choice_langs'][s.target]}"].append(bool(s.correct))
    return {key: {"accuracy": float(np.mean(v)), "n": len(v)} for key, v in sorted(groups.items())}


def option_pull(samples: Sequence[Any], rows: Mapping[str, Mapping[str, Any]], *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every option-language number of one mixed config; ``rows`` maps id to the build row (question_lang, choice_langs)."""
    tables = item_tables(samples, {k: r["choice_langs"] for k, r in rows.items()})
    return {
        "n": len(samples),
        "english_preference": english_preference(tables, resamples=resamples, seed=seed),
        "pick_rate": pick_rates(tables),
        "accuracy_by_languages": accuracy_by_languages(samples, rows),
    }


def is_mixed(config: str) -> bool:
    """Whether a config name (e.g. 'fr_gt_option') is of a mixed format."""
    return config == "mixup" or config.startswith("mixup_") or any(config.endswith(f"_{name}") for name in MIXED_FORMATS[:-1])


def build_option_pull(dataset: str, config: str, split: str, samples: Sequence[Any], *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """option_pull of a mixed config, its languages read from the build's rows by id; a ``reason`` where they cannot be."""
    from xbench.built_dataset import load_split
    from xbench.errors import XbenchError

    try:
        rows = {r["id"]: r for r in load_split(dataset, config, split) if "id" in r}
    except XbenchError as error:
        return {"reason": f"the build's rows could not be read: {error}"}
    if not rows or any(s.id not in rows or "choice_langs" not in rows[s.id] for s in samples):
        return {"reason": f"{dataset} {config}: rows lack ids or choice_langs for the scored items"}
    return option_pull(samples, rows, resamples=resamples, seed=seed)
