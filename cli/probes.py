"""Probe commands: translation quality (mt-eval) and embedding similarity under word switching (embed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import CacheOption, DeviceOption, ModelOption, ThreadsOption, use_threads
from .output import err_console, exit_codes, out_console, print_result


@exit_codes
def mt_eval(
    testset: Annotated[Path, typer.Option("--testset", help="Folder with one file per language (FLoRes style), or JSONL of source/reference pairs.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for results.json and hypotheses per system and direction.")] = None,
    directions: Annotated[
        str | None, typer.Option(help="SRC-TGT list. [default: a JSONL test set's own directions; en->fr,de,es,it and back for a folder]")
    ] = None,
    engine: Annotated[list[str] | None, typer.Option("--engine", help="An xbench engine chain to score (repeatable), e.g. google or memory,apertium.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="A causal LM prompted to translate (repeatable).")] = None,
    hypotheses: Annotated[Path | None, typer.Option(help="Folder of existing hypotheses, <src>-<tgt>.txt.")] = None,
    cache: CacheOption = None,
    comet_model: Annotated[str | None, typer.Option(help="Local Unbabel COMET checkpoint (needs unbabel-comet).")] = None,
    device: Annotated[str, typer.Option(help="Device for --model systems.")] = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Score translation quality (chrF, BLEU, optional COMET) of engines, prompted LMs or hypotheses."""
    from rich.table import Table

    from xbench.errors import InputError
    from xbench.parallel import read_parallel
    from xbench.probes.mt import engine_system, evaluate_systems, hypotheses_system, lm_system, quality_table, resolve_directions

    use_threads(threads)
    parallel = read_parallel(testset)
    chosen = resolve_directions(parallel, directions)  # checked before any model loads
    systems = {spec: engine_system(spec, cache) for spec in engine or []}
    systems.update({name: lm_system(name, device=device) for name in model or []})
    if hypotheses is not None:
        systems[hypotheses.name] = hypotheses_system(hypotheses)
    if not systems:
        raise InputError("give at least one system: --engine, --model or --hypotheses")
    results, messages = evaluate_systems(parallel, systems, chosen, out, comet_model)
    for metric in ("chrf", "bleu"):
        columns, table = quality_table(results, metric)
        view = Table(metric, *columns)
        for system, scores in table.items():
            view.add_row(system, *(f"{scores[c]:.1f}" for c in columns))
        out_console.print(view)
    out_console.print(results[0].signature, highlight=False)
    for message in messages:
        err_console.print(message)


@exit_codes
def embed(
    model: ModelOption,
    source: Annotated[str, typer.Option("--source", help="WikiText text file or folder (documents: non-empty lines).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, samples.jsonl and tsne.png.")],
    docs: Annotated[int, typer.Option(help="Documents sampled with --seed.")] = 100,
    p: Annotated[float, typer.Option("--p", help="Probability of switching a word / replacing or dropping a token.")] = 0.3,
    pool: Annotated[str, typer.Option(help="Languages words switch into.")] = "en,fr,de,es,it",
    translator: Annotated[str, typer.Option(help="Engine chain for single words, e.g. freedict or memory,google.")] = "freedict",
    cache: CacheOption = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling and perturbations.")] = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Cosine similarity of sentence embeddings under word switching, token replacement and dropout."""
    from xbench.probes.embed_run import run_embed

    use_threads(threads)
    result = run_embed(model, source, out, docs=docs, p=p, pool=pool, translator=translator, cache=cache, seed=seed, device=device)
    print_result(result)
