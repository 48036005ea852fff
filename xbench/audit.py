"""``xbench audit``: artifact baselines of a multiple-choice build (answers found without the knowledge).

Each baseline narrows a row's four options to the candidates a surface cue points at; its
accuracy is the expected accuracy of guessing among those candidates (all four when the cue says
nothing), so it is deterministic and a cue-free quiz scores 25%. A model can also be scored on the
options alone (``--no-question``), with the runner's scoring.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xbench.errors import InputError

Row = dict[str, Any]
Candidates = frozenset[int]
# Words that carry no identity: an option sharing one of these with the question is no cue.
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "did",
        "does",
        "do",
        "his",
        "her",
        "its",
        "their",
        "this",
        "that",
        "these",
        "those",
        "as",
        "into",
        "than",
        "type",
        "spell",
    ]
)
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
SUFFIX_LENGTH = 4
STEM_LENGTH = 6


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    accuracy: float  # expected accuracy, ties among candidates broken at random
    decided: int  # rows where the cue singled out one option
    decided_correct: int  # ... and that option was the key
    n: int


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if len(w) > 2 and w not in FUNCTION_WORDS}


def _restrict(row: Row, chosen: Sequence[int]) -> Candidates:
    return frozenset(chosen) if chosen else frozenset(range(len(row["choices"])))


def _argmax(row: Row, score: Callable[[str], float]) -> Candidates:
    """Options with the highest score, or no cue when the score is the same for every option."""
    scores = [score(c) for c in row["choices"]]
    best = max(scores)
    if min(scores) == best:
        return _restrict(row, [])
    return frozenset(i for i, s in enumerate(scores) if s == best)


def cue_shared_surname(row: Row) -> Candidates:
    """Options of two or more words (a name) whose last word (a surname) occurs in the question."""
    question = set(words(row["question"]))
    hits = [i for i, c in enumerate(row["choices"]) if len(words(c)) > 1 and words(c)[-1] in question and words(c)[-1] not in FUNCTION_WORDS]
    return _restrict(row, hits)


def cue_option_in_question(row: Row) -> Candidates:
    """Options whose whole text occurs in the question (a type word in a spell's name)."""
    question = " ".join(words(row["question"]))
    hits = [i for i, c in enumerate(row["choices"]) if words(c) and re.search(rf"\b{re.escape(' '.join(words(c)))}\b", question)]
    return _restrict(row, hits)


def cue_stem_in_question(row: Row) -> Candidates:
    """Options whose word stem (first 6 letters) begins a question word: "Conjuration" for "Bridge-conjuring spell"."""
    question = set(words(row["question"]))
    stems = [{w[:STEM_LENGTH] for w in content_words(c) if len(w) >= STEM_LENGTH} for c in row["choices"]]
    hits = [i for i, found in enumerate(stems) if any(q.startswith(stem) for stem in found for q in question)]
    return _restrict(row, hits)


def cue_word_overlap(row: Row) -> Candidates:
    """Options sharing the most content words with the question."""
    question = content_words(row["question"])
    return _argmax(row, lambda choice: len(content_words(choice) & question))


def cue_longest(row: Row) -> Candidates:
    return _argmax(row, len)


def cue_shortest(row: Row) -> Candidates:
    return _argmax(row, lambda choice: -len(choice))


def _shape(choice: str) -> tuple[Any, ...]:
    return (len(choice.split()), any(ch.isdigit() for ch in choice), "-" in choice, choice[:1].isupper(), choice.isupper())


def cue_odd_form(row: Row) -> Candidates:
    """The one option whose form (word count, digits, hyphen, capitals) no other option shares."""
    shapes = Counter(_shape(c) for c in row["choices"])
    odd = [i for i, c in enumerate(row["choices"]) if shapes[_shape(c)] == 1]
    return _restrict(row, odd if len(odd) == 1 else [])


def _key_text(row: Row) -> str:
    return row["choices"][int(row["answer"])]


def prior_cue(rows: Sequence[Row], group: Callable[[Row], str | None]) -> list[Candidates]:
    """Leave-one-out: the option that was most often the key among the other rows of its group."""
    counts: dict[str | None, Counter[str]] = {}
    for row in rows:
        counts.setdefault(group(row), Counter())[_key_text(row)] += 1
    result = []
    for row in rows:
        key = group(row)
        if key is None:
            result.append(_restrict(row, []))
            continue
        others = counts[key].copy()
        others[_key_text(row)] -= 1
        result.append(_argmax(row, others.__getitem__))
    return result


def _entity_suffix(row: Row) -> str | None:
    entity = row.get("entity") or ""
    tail = entity.split()[-1].lower() if entity.split() else ""
    return tail[-SUFFIX_LENGTH:] if len(tail) >= SUFFIX_LENGTH else None


def _attribute(row: Row) -> str:
    return row.get("attribute") or row.get("subject") or ""


ROW_CUES: dict[str, tuple[str, Callable[[Row], Candidates]]] = {
    "shared_surname": ("option's last word is in the question", cue_shared_surname),
    "option_in_question": ("option text is in the question (type word in the name)", cue_option_in_question),
    "stem_in_question": ("option's word stem is in the question (conjuring/Conjuration)", cue_stem_in_question),
    "word_overlap": ("option shares the most words with the question", cue_word_overlap),
    "longest": ("longest option", cue_longest),
    "shortest": ("shortest option", cue_shortest),
    "odd_form": ("the one option of a different form", cue_odd_form),
}
# Cues that name the key on their own: a row where one of them picks the key must be flagged.
FORM_CUES = ("shared_surname", "option_in_question", "stem_in_question", "word_overlap")


def cue_candidates(rows: Sequence[Row]) -> dict[str, list[Candidates]]:
    """Every surface cue's candidates for every row (same order as rows)."""
    table = {name: [cue(row) for row in rows] for name, (_, cue) in ROW_CUES.items()}
    table["answer_prior"] = prior_cue(rows, _attribute)
    table["name_ending_prior"] = prior_cue(rows, lambda row: f"{_attribute(row)}|{_entity_suffix(row)}" if _entity_suffix(row) else None)
    table["best_cue"] = [_cascade(row, [table[name][i] for name in CASCADE]) for i, row in enumerate(rows)]
    return table


CASCADE = ("option_in_question", "shared_surname", "name_ending_prior", "answer_prior")
PRIOR_DESCRIPTIONS = {
    "answer_prior": "option most often the key for this attribute (leave-one-out)",
    "name_ending_prior": "key most often seen with this name ending (leave-one-out)",
    "best_cue": "first cue that narrows: " + " > ".join(CASCADE),
}


def _cascade(row: Row, candidates: Sequence[Candidates]) -> Candidates:
    every = _restrict(row, [])
    return next((c for c in candidates if c != every), every)


def _baseline(name: str, description: str, rows: Sequence[Row], candidates: Sequence[Candidates]) -> Baseline:
    expected = sum((1 / len(c)) if int(r["answer"]) in c else 0.0 for r, c in zip(rows, candidates))
    decided = [(r, c) for r, c in zip(rows, candidates) if len(c) == 1]
    correct = sum(int(r["answer"]) in c for r, c in decided)
    return Baseline(name, description, expected / len(rows), len(decided), correct, len(rows))


def surface_baselines(rows: Sequence[Row]) -> list[Baseline]:
    """Always-the-same-letter and every surface cue, on rows with ``question``, ``choices``, ``answer``."""
    if not rows:
        raise InputError("audit: no rows")
    width = len(rows[0]["choices"])
    letters = "ABCDEFGHIJ"[:width]
    result = [_baseline(f"always_{letter}", f"always answer {letter}", rows, [frozenset([i])] * len(rows)) for i, letter in enumerate(letters)]
    table = cue_candidates(rows)
    for name, candidates in table.items():
        description = ROW_CUES[name][0] if name in ROW_CUES else PRIOR_DESCRIPTIONS[name]
        result.append(_baseline(name, description, rows, candidates))
    return result


def cue_hits(rows: Sequence[Row], cues: Sequence[str] = FORM_CUES) -> dict[str, list[str]]:
    """Row id -> the cues that single out its key (only rows with at least one)."""
    table = cue_candidates(rows)
    hits: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        named = [c for c in cues if table[c][index] == frozenset([int(row["answer"])])]
        if named:
            hits[row.get("id") or f"row/{index}"] = named
    return hits


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
    return _baseline("model_no_question", f"{loaded.name} on the options alone", rows, candidates)


def _default_config(folder: Path) -> str:
    """The config a build's card marks as default (else its first)."""
    import yaml

    card = folder / "README.md"
    configs: list[dict[str, Any]] = []
    if card.is_file() and card.read_text(encoding="utf-8").startswith("---"):
        header = card.read_text(encoding="utf-8").split("---", 2)[1]
        configs = (yaml.safe_load(header) or {}).get("configs") or []
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


def markdown_table(columns: dict[str, Sequence[Baseline]]) -> str:
    """One row per baseline, one accuracy column per audited build (e.g. before / after)."""
    names = list(dict.fromkeys(b.name for baselines in columns.values() for b in baselines))
    lookup = {(title, b.name): b for title, baselines in columns.items() for b in baselines}
    descriptions = {b.name: b.description for baselines in columns.values() for b in baselines}
    lines = ["| baseline | cue | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for name in names:
        cells = [f"{lookup[(title, name)].accuracy:.1%}" if (title, name) in lookup else "-" for title in columns]
        lines.append(f"| {name} | {descriptions[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def as_records(baselines: Sequence[Baseline]) -> list[dict[str, Any]]:
    return [asdict(b) for b in baselines]
