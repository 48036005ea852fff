"""Statistics for paired comparisons: the same questions are asked in every language.

Pure functions over per-question scores (1/0 for accuracy, a ROUGE recall in [0, 1]):
binomial standard errors for error bars, a paired bootstrap confidence interval of the gap
to English, McNemar's exact test on the discordant pairs, and an exact binomial test of a
model against chance.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


def binomial_stderr(correct: int, n: int) -> float:
    """sqrt(p (1 - p) / n), the standard error of an accuracy over n questions."""
    if n <= 0:
        return float("nan")
    p = correct / n
    return math.sqrt(p * (1 - p) / n)


def _binomial_cdf_exact(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly (integer arithmetic)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def binomial_test_greater(successes: int, n: int, p: float) -> float:
    """One-sided exact p-value of P(X >= successes) for X ~ Binomial(n, p) (scipy ``binomtest(..., alternative='greater')``)."""
    if n <= 0:
        return float("nan")
    if successes <= 0:
        return 1.0
    # log-space terms: exact enough for n in the tens of thousands, no overflow
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q for i in range(successes, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs: b = right in English only, c = right in the other language only."""

    b: int
    c: int
    p_value: float


def mcnemar_exact(reference: Sequence[bool], other: Sequence[bool]) -> McNemar:
    """McNemar's exact test (two-sided binomial on the discordant pairs), as statsmodels ``mcnemar(exact=True)``."""
    if len(reference) != len(other):
        raise ValueError("paired samples must have the same length")
    b = sum(1 for r, o in zip(reference, other) if r and not o)
    c = sum(1 for r, o in zip(reference, other) if o and not r)
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0)
    return McNemar(b, c, min(1.0, 2 * _binomial_cdf_exact(min(b, c), n)))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def paired_bootstrap_gap(reference: Sequence[float], other: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """mean(other - reference) with a percentile bootstrap interval over questions, resampled in pairs.

    Seeded: the same scores give the same interval.
    """
    if len(reference) != len(other):
        raise ValueError("paired samples must have the same length")
    n = len(reference)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    differences = [o - r for r, o in zip(reference, other)]
    estimate = sum(differences) / n
    rng = random.Random(seed)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1 - level) / 2
    return Interval(estimate, _quantile(means, alpha), _quantile(means, 1 - alpha))


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default ``linear`` method)."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def at_chance(correct: int, n: int, chance: float, alpha: float = 0.05) -> bool:
    """True when the accuracy is not significantly above chance (one-sided exact binomial test)."""
    if n <= 0:
        return True
    return binomial_test_greater(correct, n, chance) >= alpha
