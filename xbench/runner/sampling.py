"""``xbench eval --sample N --seed S``: a seeded random sample of a config's rows, stratified by subject or category.

The order within each stratum is the SHA-256 of ``"<seed>:<id>"``, so the same seed picks the same
ids in every config of a build (whatever the rows' order), and the English config and each
translated one are scored on the same items. Strata get N in proportion to their size (largest
remainder, ties broken by stratum name); the sample keeps the rows' order.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Any


def stratum(row: dict[str, Any]) -> str:
    """A row's stratum: its subject (MMLU), else its category, else one stratum for all."""
    return str(row.get("subject") or row.get("category") or "")


def allocation(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Rows per stratum for a sample of ``n``: proportional, by largest remainder, ties by stratum name."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    quotas = {name: n * size / total for name, size in sizes.items()}
    counts = {name: math.floor(q) for name, q in quotas.items()}
    rest = n - sum(counts.values())
    for name in sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), k))[:rest]:
        counts[name] += 1
    return counts


def _rank(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def stratified_sample(rows: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` of ``rows`` (each with an ``id``), stratified by :func:`stratum`, in the rows' order; all rows when n covers them."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[stratum(row)].append(row)
    counts = allocation({name: len(members) for name, members in groups.items()}, n)
    chosen = set()
    for name, members in groups.items():
        chosen.update(r["id"] for r in sorted(members, key=lambda r: _rank(seed, str(r["id"])))[: counts[name]])
    return [r for r in rows if r["id"] in chosen]
