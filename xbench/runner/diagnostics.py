"""Warnings about a run that its accuracy alone hides: a model at chance, or one answering one letter."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

SAME_ANSWER_SHARE = 0.9  # flagged when one option is predicted for at least this share of the questions
CHANCE_STDERRS = 2.0  # flagged when accuracy is within this many standard errors of chance


def answer_flags(predictions: Sequence[int], labels: Sequence[str], accuracy: float, stderr: float) -> list[str]:
    """One sentence per problem found, empty when the run looks sound.

    ``predictions`` are option indices (-1: no option, first-token strategy only).
    """
    flags = []
    n = len(predictions)
    if n == 0:
        return flags
    chance = 1 / len(labels)
    margin = CHANCE_STDERRS * stderr if math.isfinite(stderr) and stderr > 0 else 0.0
    if accuracy < chance - margin:
        flags.append(f"below chance: accuracy {accuracy:.3f} is more than {CHANCE_STDERRS:g} standard errors under {chance:.2f} ({len(labels)} options)")
    elif accuracy <= chance + margin:
        flags.append(f"at or near chance: accuracy {accuracy:.3f} is within {CHANCE_STDERRS:g} standard errors of {chance:.2f} ({len(labels)} options)")
    option, count = Counter(predictions).most_common(1)[0]
    if n >= 10 and count / n >= SAME_ANSWER_SHARE:
        answer = labels[option] if 0 <= option < len(labels) else "no option"
        flags.append(f"answers {answer!r} to {count} of {n} questions ({100 * count / n:.0f}%): the model may not be reading the options")
    return flags
