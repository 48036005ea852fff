"""``xbench audit``: artifact baselines of a multiple-choice build (answers found without the knowledge).

The surface-cue baselines come from ``xbench.cues``; a model can also be scored on the options
alone (``--no-question``), with the runner's scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xbench.cues import Baseline, Row, baseline, surface_baselines
from xbench.errors import InputError


def options_only_prompt(choices: Sequence[str], labels: Sequence[str]) -> str:
    """What the model sees without the question: the generic header, the options, ``Answer:``."""
    from xbench.runner import prompts

    return prompts.header(prompts.GENERIC_HEADER) + "\n".join(f"{label}. {choice}" for label, choice in zip(labels, choices)) + "\nAnswer:"


def model_baseline(rows: Sequence[Row], model: str, *, device: str = "auto", dtype: str = "auto") -> Baseline:
    """A causal LM scored (maxprob over the option letters) on the options without the question."""
    from xbench.runner.model import load_model
    from xbench.runner.prompts import option_ids
    from xbench.runner.scoring import McScorer, resolve_option_tokens

    loaded = load_model(model, dtype=dtype, device=device)
    labels = option_ids("ABCD")
    scorer = McScorer(loaded.model, loaded.tokenizer, resolve_option_tokens(loaded.tokenizer, labels), device=loaded.device)
    scored = scorer.score_group([options_only_prompt(r["choices"], labels) for r in rows])
    candidates = [frozenset([s.prediction]) for s in scored]
    return baseline("model_no_question", f"{loaded.name} on the options alone", rows, candidates)


def _default_config(folder: Path) -> str:
    """The config a build's card marks as default (else its first)."""
    from xbench.built_dataset import CARD_FILE, front_matter

    card = folder / CARD_FILE
    metadata = front_matter(card.read_text(encoding="utf-8"), str(card)) if card.is_file() else None
    configs: list[dict[str, Any]] = (metadata or {}).get("configs") or []
    defaults = [c["config_name"] for c in configs if c.get("default")] or [c["config_name"] for c in configs[:1]]
    if not defaults:
        raise InputError(f"audit: {folder} is not a build folder (no configs in README.md); name one with --config")
    return defaults[0]


def load_rows(dataset: str | Path, config: str | None, split: str) -> list[Row]:
    """Rows of one config of a build folder (read from its own files) or Hub id; the default config when none is named."""
    from xbench.built_dataset import read_rows

    name = str(dataset)
    folder = Path(name).expanduser()
    if not folder.exists() and name.startswith((".", "/", "~")):
        raise InputError(f"audit: {name} does not exist")
    if folder.is_dir():
        name = str(folder)
        config = config or _default_config(folder)
    rows = read_rows(name, config, split)
    columns = set(rows[0]) if rows else set()
    missing = [c for c in ("question", "choices", "answer") if c not in columns]
    if missing:
        raise InputError(f"audit: {name} config {config!r}: not a multiple-choice build (missing column(s) {', '.join(missing)})")
    return rows


def audit(dataset: str | Path, *, config: str | None = None, split: str = "test", model: str | None = None, device: str = "auto") -> list[Baseline]:
    rows = load_rows(dataset, config, split)
    result = surface_baselines(rows)
    if model is not None:
        result.append(model_baseline(rows, model, device=device))
    return result
