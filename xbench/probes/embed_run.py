"""The ``xbench embed`` run: documents, word translation through the cache, results files."""

from __future__ import annotations

from pathlib import Path

from xbench.errors import InputError
from xbench.languages import parse_languages
from xbench.probes.embed import CONDITIONS, compare, run_embedding_probe, tsne_plot
from xbench.runner.results import EMBED, Metric, RunResult, mean_stderr, write_results, write_samples
from xbench.signature import signature


def run_embed(
    model: str, source: str, out: str | Path, *, docs: int, p: float, pool: str, translator: str, cache=None, seed: int = 0, device: str = "auto"
) -> RunResult:
    from xbench.corpus import sample_indices, selected_documents
    from xbench.translation import TranslationCache

    if not 0 < p <= 1:
        raise InputError("--p: must be in (0, 1]")
    if docs < 2:
        raise InputError("--docs: needs at least 2 documents for the statistics")
    languages = parse_languages(pool, option="--pool")
    if not [lang for lang in languages if lang != "en"]:
        raise InputError("--pool: needs a language other than en")
    documents = [doc for _, doc in selected_documents("train", source=source, doc_unit="line")()]
    if len(documents) < 2:
        raise InputError(f"--source {source}: needs at least 2 documents")
    chosen = sorted(sample_indices(len(documents), docs, seed))
    texts = [documents[i] for i in chosen]
    store = TranslationCache(cache)
    try:
        return _probe(model, source, out, chosen, texts, p=p, languages=languages, translator=translator, store=store, seed=seed, device=device)
    finally:
        store.close()


def _probe(model, source, out, chosen, texts, *, p, languages, translator, store, seed, device) -> RunResult:
    from xbench.runner.model import load_model
    from xbench.translation import Translator, resolve_engines

    words = Translator(resolve_engines(translator), store)

    def translate(word: str, lang: str) -> str | None:
        found = words.translate([word], "en", lang).translations.get(word)
        return found[0] if found else None

    loaded = load_model(model, device=device)
    probe = run_embedding_probe(loaded.model, loaded.tokenizer, texts, p=p, pool=languages, translate=translate, seed=seed, device=loaded.device)
    similarities = probe["similarities"]
    test = compare(similarities["mixed"], similarities["replace"])
    metrics = {f"cos_{c}": mean_stderr(similarities[c]) for c in CONDITIONS}
    metrics["welch_t_mixed_vs_replace"] = Metric(test.statistic, float("nan"))
    metrics["p_value_mixed_vs_replace"] = Metric(test.p_value, float("nan"))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_samples(folder, ({"source_index": doc_index, **{c: similarities[c][index] for c in CONDITIONS}} for index, doc_index in enumerate(chosen)))
    if len(texts) >= 4:
        tsne_plot(probe["differences"], folder / "tsne.png", seed)
    result = RunResult(
        kind=EMBED,
        model=model,
        model_revision=loaded.revision,
        dataset=str(source),
        dataset_revision=None,
        config="embed",
        split="train",
        settings={"p": p, "pool": list(languages), "translator": translator},
        seed=seed,
        n_samples=len(texts),
        metrics=metrics,
        per_subject={},
        signature=signature("embed", [("p", p), ("pool", ",".join(languages)), ("words", translator), ("seed", seed)], version=None),
        dtype=loaded.dtype,
        device=loaded.device,
    )
    write_results(folder, result)
    return result


__all__ = ["run_embed"]
