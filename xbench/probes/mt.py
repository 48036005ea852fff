"""``xbench mt-eval``: translation quality of engines, prompted causal LMs or given hypotheses.

chrF and BLEU with sacrebleu (each score carries sacrebleu's signature); COMET when the
``unbabel-comet`` package and a local model are available, skipped with a message otherwise.
The LM system uses the prompt of Xu et al. (2024, ALMA):
``Translate this from German to English:\\nGerman: {source}\\nEnglish:``, decoded greedily.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from xbench.choices import parse_choices
from xbench.errors import InputError
from xbench.languages import get_language
from xbench.metrics import chrf_bleu
from xbench.parallel import ParallelSet
from xbench.runner.results import MT, Metric, RunResult, write_results, write_samples
from xbench.signature import signature
from xbench.translation.neural import LM_PROMPT

DEFAULT_TARGETS = ("fr", "de", "es", "it")
HYPOTHESES_FILE = "hypotheses.jsonl"  # one line per segment: source, hypothesis, reference


def resolve_directions(testset: ParallelSet, spec: str | None) -> list[tuple[str, str]]:
    """The directions to score, checked against the test set before any model loads.

    Without ``--directions`` a JSONL test set gives its own directions (in file order); a
    FLoRes folder gives the default en->{fr,de,es,it} and back.
    """
    directions = parse_directions(spec) if spec or not testset.pairs else list(testset.pairs)
    for source, target in directions:
        testset.direction(source, target)
    return directions


def parse_directions(spec: str | None) -> list[tuple[str, str]]:
    """``en-fr,fr-en``; default en->{fr,de,es,it} and back."""
    if not spec:
        return [("en", t) for t in DEFAULT_TARGETS] + [(t, "en") for t in DEFAULT_TARGETS]

    def check(item: str) -> None:
        source, _, target = item.partition("-")
        if not target:
            raise InputError(f"--directions: expected SRC-TGT, got {item!r}")
        get_language(source)
        get_language(target)

    return [(source, target) for source, _, target in (item.partition("-") for item in parse_choices(spec, check, option="--directions", what="direction"))]


def comet_scores(sources, hypotheses, references, model_path: str | None) -> tuple[float | None, str]:
    """COMET system score, or None and the reason it was skipped."""
    if model_path is None:
        return None, "COMET skipped: pass --comet-model PATH (a downloaded Unbabel COMET checkpoint)"
    try:
        import comet  # noqa: F401
    except ImportError:
        return None, "COMET skipped: pip install unbabel-comet"
    model = _comet_model(model_path)
    data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(sources, hypotheses, references)]
    return float(model.predict(data, batch_size=16, gpus=0).system_score), "comet"


@lru_cache(maxsize=2)
def _comet_model(path: str):
    from comet import load_from_checkpoint

    return load_from_checkpoint(path)


def engine_system(spec: str, cache_path: str | Path | None) -> Callable[[list[str], str, str], list[str]]:
    """Translate with an xbench engine chain (through the cache); failures are an error."""
    from xbench.translation import TranslationCache, Translator, resolve_engines

    cache = TranslationCache(cache_path)
    translator = Translator(resolve_engines(spec), cache)

    def run(texts: list[str], source: str, target: str) -> list[str]:
        outcome = translator.translate_or_raise(texts, source, target)
        return [outcome.translations[t][0] for t in texts]

    return run


def lm_system(model: str, *, device: str = "auto", dtype: str = "auto", max_new_tokens: int = 256) -> Callable[[list[str], str, str], list[str]]:
    """A causal LM prompted to translate (Xu et al. 2024), greedy, cut at the first newline."""
    from xbench.runner.generation import generate_greedy
    from xbench.runner.model import load_model

    loaded = load_model(model, dtype=dtype, device=device)

    def run(texts: list[str], source: str, target: str) -> list[str]:
        names = {"source_name": get_language(source).name, "target_name": get_language(target).name}
        prompts = [LM_PROMPT.format(text=t, **names) for t in texts]
        outputs = generate_greedy(loaded.model, loaded.tokenizer, prompts, max_new_tokens, loaded.device)
        return [o.split("\n")[0].strip() for o in outputs]

    return run


def hypotheses_system(folder: str | Path) -> Callable[[list[str], str, str], list[str]]:
    """Existing hypotheses: ``<folder>/<src>-<tgt>.txt``, one line per source sentence."""
    folder = Path(folder)

    def run(texts: list[str], source: str, target: str) -> list[str]:
        path = folder / f"{source}-{target}.txt"
        if not path.is_file():
            raise InputError(f"--hypotheses: missing {path}")
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        if len(lines) != len(texts):
            raise InputError(f"{path}: {len(lines)} lines for {len(texts)} source sentences")
        return lines

    return run


def evaluate_systems(
    testset: ParallelSet,
    systems: dict[str, Callable[[list[str], str, str], list[str]]],
    directions: list[tuple[str, str]],
    out: str | Path | None = None,
    comet_model: str | None = None,
) -> tuple[list[RunResult], list[str]]:
    """Score every system on every direction; returns results and messages (e.g. COMET skipped)."""
    results, messages = [], []
    for system, translate in systems.items():
        for source, target in directions:
            sources, references = testset.direction(source, target)
            hypotheses = translate(list(sources), source, target)
            scores = chrf_bleu(hypotheses, references, target)
            metrics = {name: Metric(value, float("nan")) for name, (value, _) in scores.items()}
            comet, note = comet_scores(sources, hypotheses, references, comet_model)
            if comet is None:
                messages.append(note)
            else:
                metrics["comet"] = Metric(comet, float("nan"))
            sacrebleu = {name: sig for name, (_, sig) in scores.items()}
            result = RunResult(
                kind=MT,
                model=system,
                model_revision=None,
                dataset=testset.name,
                dataset_revision=None,
                config=f"{source}-{target}",
                split="-",
                settings={"sacrebleu": sacrebleu, "comet_model": comet_model if comet is not None else None},
                seed=0,
                n_samples=len(sources),
                metrics=metrics,
                per_subject={},
                signature=signature("mt", sacrebleu.items(), version=None, separator=" "),
            )
            results.append(result)
            if out is not None:
                folder = Path(out) / system.replace("/", "__") / f"{source}-{target}"
                folder.mkdir(parents=True, exist_ok=True)
                write_results(folder, result)
                records = ({"source": s, "hypothesis": h, "reference": r} for s, h, r in zip(sources, hypotheses, references))
                write_samples(folder, records, HYPOTHESES_FILE)
    return results, list(dict.fromkeys(messages))


def quality_table(results: list[RunResult], metric: str = "chrf") -> tuple[list[str], dict[str, dict[str, float]]]:
    """(columns: directions then avg, {system: {direction: score}}), as in the study's table."""
    directions = list(dict.fromkeys(r.config for r in results))
    table: dict[str, dict[str, float]] = {}
    for r in results:
        table.setdefault(r.model, {})[r.config] = r.metrics[metric].value
    for scores in table.values():
        scores["avg"] = sum(scores.values()) / len(scores)
    return [*directions, "avg"], table
