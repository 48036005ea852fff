"""The ``xbench`` command: a thin Typer layer over the library; exit codes are set only here."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xbench.errors import XbenchError

# Plain Click help: flags read as flags, every default shows, and piped help is not boxed.
app = typer.Typer(
    help="Build mixed-language benchmarks and measure the crosslingual knowledge barrier.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
translations_app = typer.Typer(help="Move translation memories in and out of the cache (JSONL).", no_args_is_help=True)
app.add_typer(translations_app, name="translations")
export_app = typer.Typer(help="Export a built dataset for other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")
score_app = typer.Typer(help="Score outputs produced elsewhere with xbench's metrics.", no_args_is_help=True)
app.add_typer(score_app, name="score")


def _console(stderr: bool = False) -> Console:
    """Piped or redirected output is never wrapped at 80 columns: cells and signatures stay whole.

    No emoji codes: "--device cuda:x:" must not print as a cross mark.
    """
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 10_000, emoji=False)


out_console = _console()
err_console = _console(stderr=True)

CacheOption = Annotated[Path | None, typer.Option("--cache", help="Translation cache (SQLite); default under the user cache dir.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Quiet: no progress, tables or notes; only the result lines and errors.")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch (default: torch's choice, often slow on a busy machine).")]


def _show_version(value: bool) -> None:
    if value:
        from xbench.about import version_line

        out_console.print(version_line(), markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Build mixed-language benchmarks and measure the crosslingual knowledge barrier."""


def _exit_codes(command: Callable) -> Callable:
    """The one place where xbench errors become messages and exit codes (2: bad input, 1: runtime)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from xbench.redact import install

        install()  # secrets scrubbed from every log record and warning of the command
        try:
            return command(*args, **kwargs)
        except XbenchError as err:
            err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: nothing was written (an existing --out is as it was); the translation cache keeps finished work")
            raise typer.Exit(130) from None

    return run


@app.command()
@_exit_codes
def languages() -> None:
    """List the supported languages and the codes engines use."""
    from rich.table import Table

    from xbench.languages import LANGUAGES

    table = Table("code", "name", "native", "script", "google", "ISO 639-3")
    for lang in LANGUAGES.values():
        table.add_row(lang.code, lang.name, lang.native_name, lang.script, lang.code_for("google"), lang.iso3)
    out_console.print(table)


@app.command()
@_exit_codes
def engines() -> None:
    """List the translation engines and the environment variables they read."""
    from xbench.translation.engines import DEEP_TRANSLATOR_ENGINES

    lines = [
        "pseudo    deterministic '[fr] text', offline",
        "memory    lookup only: cached or imported entries, any engine",
        "apertium  local Debian apertium (apt-get install apertium apertium-eng-spa)",
        "freedict  single words from Debian's freedict dictionaries (apt-get install dict-freedict-eng-fra ...)",
    ]
    for name, spec in DEEP_TRANSLATOR_ENGINES.items():
        keys = ", ".join(spec.env.values()) or "no key"
        lines.append(f"{name:<9} deep-translator {spec.class_name} ({keys})")
    lines.append("hf-mt:<model>     local seq2seq MT: NLLB-200, M2M-100, MADLAD-400, Marian (xbench[run])")
    lines.append("llm:<model>       local causal LM with the mt-eval prompt (xbench[run])")
    lines.append("llm-api:<model>   the same prompt on an OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY); llm-chat: for chat models")
    for line in lines:
        out_console.print(line, markup=False, highlight=False)


@app.command()
@_exit_codes
def build(
    dataset: Annotated[str, typer.Argument(help="Dataset family, e.g. mmlu_mixup.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="Output folder (Hub-ready). [required unless --dry-run]")] = None,
    langs: Annotated[str | None, typer.Option(help="Comma-separated language codes, or 'all'.")] = None,
    formats: Annotated[str | None, typer.Option(help="Comma-separated formats, or 'all'.")] = None,
    source: Annotated[str | None, typer.Option(help="Local source (file or folder) instead of the Hub; 'sample' for the bundled sample.")] = None,
    translator: Annotated[
        str | None,
        typer.Option(
            help="Engine chain, left to right, e.g. memory,google. [default: google for mmlu_mixup, tofu and wikitext_mixed (needs network); memory,google for hp_quiz; offline: pseudo, memory, apertium, freedict]"
        ),
    ] = None,
    cache: CacheOption = None,
    seed: Annotated[int, typer.Option(help="Seed for per-row random choices.")] = 0,
    mixup_pool: Annotated[str, typer.Option(help="Five languages for the mixup config.")] = "en,fr,de,es,it",
    splits: Annotated[str | None, typer.Option(help="Comma-separated splits (default: all of the family's).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report segments, characters and requests; translate nothing.")] = False,
    allow_untranslated: Annotated[
        bool, typer.Option("--allow-untranslated", help="Keep failed cells in English, marked in the 'untranslated' column.")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel requests per engine.")] = None,
    source_config: Annotated[
        str | None, typer.Option(help="Config of the source dataset (tofu: forget10_perturbed; wikitext_mixed: wikitext-103-raw-v1).")
    ] = None,
    translate_answers: Annotated[bool, typer.Option("--translate-answers", help="tofu: add translated answers in extra columns.")] = False,
    unit: Annotated[str | None, typer.Option(help="wikitext_mixed: document, sentence or words<k> (comma-separated for several configs).")] = None,
    doc_unit: Annotated[str, typer.Option(help="wikitext_mixed: line (every non-empty line) or article.")] = "line",
    pool: Annotated[str | None, typer.Option(help="wikitext_mixed: languages units are drawn from (default en,fr,de,es,it).")] = None,
    max_docs: Annotated[int | None, typer.Option(help="wikitext_mixed: only the first N documents.")] = None,
    sample: Annotated[int | None, typer.Option(help="wikitext_mixed: N documents drawn at random with --seed.")] = None,
    subset: Annotated[Path | None, typer.Option(help="wikitext_mixed: only the documents of an index file (xbench retrieve, or the study's HP index).")] = None,
    all_languages: Annotated[
        bool,
        typer.Option(
            "--all-languages", help="wikitext_mixed: also write <unit>_all, every document once in each pool language (the study's 5x reference, Fig. 18)."
        ),
    ] = False,
    qa: Annotated[
        Path | None, typer.Option(help="Parallel sample (FLoRes folder or JSONL): score the engine chain on it and put chrF/BLEU in the card.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Build a dataset family into a Hub-ready folder of parquet files and a card."""
    from xbench.building import build as run_build
    from xbench.progress import ProgressDisplay

    if translator is None and not dry_run:
        _check_default_translator(dataset)
    with ProgressDisplay("translating en->{key}", quiet=quiet) as shown:
        report = run_build(
            dataset,
            out=out,
            langs=langs,
            formats=formats,
            source=source,
            translator=translator,
            cache=cache,
            seed=seed,
            mixup_pool=mixup_pool,
            splits=splits,
            dry_run=dry_run,
            allow_untranslated=allow_untranslated,
            workers=workers,
            progress=lambda lang, delta, total: shown.advance(lang, delta, total),
            on_config=lambda name: shown.note(f"wrote config {name}"),
            options={
                "source_config": source_config,
                "translate_answers": translate_answers,
                "units": unit,
                "doc_unit": doc_unit,
                "pool": pool,
                "max_docs": max_docs,
                "sample": sample,
                "sample_seed": seed,
                "subset": subset,
                "qa": qa,
                "all_languages": all_languages,
            },
        )
    _print_report(report, quiet)


def _check_default_translator(dataset: str) -> None:
    """A bare build of a family whose default engine is on the web fails fast when offline."""
    from xbench.builders import get_family
    from xbench.translation.reachability import require_reachable

    first = get_family(dataset).default_translator.split(",")[0]
    require_reachable(first, why=f"the default translator of {dataset}")


def _print_report(report, quiet: bool = False) -> None:
    from rich.table import Table

    table = Table(
        "lang", "segments", "chars", "requests", "cached", "retries", "failed", "engines", title="translation" + (" (dry run)" if report.dry_run else "")
    )
    table.columns[-1].overflow = "fold"
    for code, stats in report.languages.items() if not quiet else ():
        engines = ", ".join(f"{k or 'none'}:{v}" for k, v in sorted(stats.engines.items()))
        table.add_row(
            code,
            f"{stats.segments:,}",
            f"{stats.characters:,}",
            f"{stats.requests:,}",
            f"{stats.cache_hits:,}",
            str(stats.retries),
            str(stats.failures),
            engines,
        )
    if not quiet:
        out_console.print(table)
    if report.dry_run:
        out_console.print(f"{len(report.configs)} configs would be written; nothing was translated")
    else:
        rows = sum(sum(splits.values()) for splits in report.configs.values())
        out_console.print(f"wrote {len(report.configs)} configs, {rows:,} rows to {report.out} in {report.seconds:.1f}s")


@app.command()
@_exit_codes
def push(
    folder: Annotated[Path, typer.Argument(help="A folder written by xbench build.")],
    repo: Annotated[str, typer.Option("--repo", help="Hub dataset repo, ORG/NAME.")],
    revision: Annotated[str | None, typer.Option(help="Tag to create for this upload, e.g. v1.0.")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Push a sample or pseudo-translated build anyway (refused otherwise).")] = False,
) -> None:
    """Upload a built folder to the Hugging Face Hub (token from HF_TOKEN or a login) and tag it."""
    from xbench.hub import push as run_push

    url = run_push(folder, repo, revision=revision, private=private, force=force)
    out_console.print(f"pushed {folder} to {repo}{f' (tag {revision})' if revision else ''}: {url}")


@translations_app.command("import")
@_exit_codes
def translations_import(
    file: Annotated[Path, typer.Argument(help="JSONL with source_lang, target_lang, source, target, engine.")],
    engine: Annotated[str | None, typer.Option(help="Record every entry under this engine name instead of the file's.")] = None,
    cache: CacheOption = None,
) -> None:
    """Import a translation memory into the cache."""
    from xbench.translation import TranslationCache

    with TranslationCache(cache) as store:
        added = store.import_jsonl(file, engine=engine)
    out_console.print(f"imported {added:,} new entries from {file}")


@translations_app.command("export")
@_exit_codes
def translations_export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write.")],
    source_lang: Annotated[str | None, typer.Option(help="Only this source language.")] = None,
    target_lang: Annotated[str | None, typer.Option(help="Only this target language.")] = None,
    engine: Annotated[str | None, typer.Option(help="Only entries made by this engine.")] = None,
    cache: CacheOption = None,
) -> None:
    """Export the cache (or part of it) as a JSONL translation memory."""
    from xbench.translation import TranslationCache

    with TranslationCache(cache) as store:
        count = store.export_jsonl(file, source_lang=source_lang, target_lang=target_lang, engine=engine)
    out_console.print(f"exported {count:,} entries to {file}")


@app.command("eval")
@_exit_codes
def eval_command(
    model: Annotated[str, typer.Option("--model", help="Hub id, local model folder or local .gguf file.")],
    dataset: Annotated[str, typer.Option("--dataset", help="A folder written by xbench build, or a Hub dataset id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: <config>/results.json and samples.jsonl.")],
    configs: Annotated[str | None, typer.Option(help="Comma-separated configs (default: all).")] = None,
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    shots: Annotated[int, typer.Option(help="Number of demos (first k dev rows of the subject).")] = 0,
    demos: Annotated[str, typer.Option(help="Demo rows: english (the en config), same (the same config) or translate (translate-then-answer).")] = "english",
    ids: Annotated[str, typer.Option(help="Option IDs: ABCD, abcd or 1234.")] = "ABCD",
    instruction: Annotated[str, typer.Option(help="none, aware0 or aware1.")] = "none",
    strategy: Annotated[str, typer.Option(help="maxprob or first-token.")] = "maxprob",
    limit: Annotated[int | None, typer.Option(help="Score only the first N rows of each config.")] = None,
    subjects: Annotated[str | None, typer.Option(help="Comma-separated subjects (MMLU).")] = None,
    dtype: Annotated[str, typer.Option(help="auto, float32, float16 or bfloat16.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    device_map: Annotated[str | None, typer.Option(help="'auto' spreads a model too large for one GPU over all of them (accelerate).")] = None,
    batch_size: Annotated[str, typer.Option(help="Questions per forward pass, or auto (1 on CPU).")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Keep the samples already written and score the rest.")] = False,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(
            help="Greedy tokens per generation (default: TOFU's 200 incl. the prompt under study, 200 new under harness; 256 for study translate-then-answer)."
        ),
    ] = None,
    rouge_tokenizer: Annotated[str, typer.Option(help="default (rouge_score's, Latin letters only) or unicode.")] = "default",
    protocol: Annotated[str, typer.Option(help="study (the paper's official prompts and scoring) or harness (lm-evaluation-harness conventions).")] = "study",
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="Tokenizer Hub id or folder, for checkpoints whose tokenizer lives elsewhere (with --backend openai --dry-run: exact prompt token counts)."
        ),
    ] = None,
    apply_chat_template: Annotated[
        bool, typer.Option("--apply-chat-template", help="Wrap each prompt in the tokenizer's chat template (instruct models).")
    ] = False,
    system_prompt: Annotated[
        str | None, typer.Option(help="System prompt (a system turn with --apply-chat-template, else a paragraph before the prompt).")
    ] = None,
    tofu_template: Annotated[str, typer.Option(help="TOFU under study: auto (from the architecture), llama2, phi, stablelm, pythia or plain.")] = "auto",
    log_samples: Annotated[
        bool, typer.Option("--log-samples", help="Also write each full prompt into samples.jsonl (per-option scores are always there).")
    ] = False,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    # --- server backend (OpenAI-compatible: OpenAI, vllm serve, TGI, llama.cpp) ---
    backend: Annotated[str, typer.Option(help="local (transformers) or openai (an OpenAI-compatible server at --base-url).")] = "local",
    base_url: Annotated[str | None, typer.Option("--base-url", help="openai: server URL, e.g. http://localhost:8000/v1.")] = None,
    api_key_env: Annotated[str, typer.Option(help="openai: environment variable holding the API key (never printed).")] = "OPENAI_API_KEY",
    endpoint: Annotated[str, typer.Option(help="openai: completions or chat.")] = "completions",
    concurrency: Annotated[int, typer.Option(help="openai: requests in flight at once.")] = 8,
    timeout: Annotated[float, typer.Option(help="openai: seconds before a request is retried.")] = 60.0,
    response_cache: Annotated[Path | None, typer.Option(help="openai: response cache (SQLite); default under the user cache dir.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="openai: print the requests (JSONL) and prompt tokens; send nothing.")] = False,
) -> None:
    """Score a causal LM on configs of a built dataset; writes results.json and samples.jsonl per config."""
    from xbench.progress import ProgressDisplay
    from xbench.runner.evaluate import evaluate

    _use_threads(threads)
    api = _api_options(backend, base_url, api_key_env, endpoint, concurrency, timeout, response_cache, tokenizer, dry_run)
    if api is not None and dry_run:
        return _print_api_plan(
            model,
            dataset,
            api,
            configs=_split_list(configs),
            split=split,
            shots=shots,
            demos=demos,
            ids=ids,
            instruction=instruction,
            strategy=strategy,
            limit=limit,
            subjects=_split_list(subjects),
            protocol=protocol,
            apply_chat_template=apply_chat_template,
            system_prompt=system_prompt,
        )
    with ProgressDisplay("scoring {key}", quiet=quiet) as shown, _resume_hint_on_interrupt(out):
        shown.note(f"loading {model}")  # a large model can take minutes before the first bar
        results = evaluate(
            model,
            dataset,
            out=out,
            configs=_split_list(configs),
            split=split,
            shots=shots,
            demos=demos,
            ids=ids,
            instruction=instruction,
            strategy=strategy,
            limit=limit,
            subjects=_split_list(subjects),
            dtype=dtype,
            device=device,
            device_map=device_map,
            batch_size=batch_size,
            resume=resume,
            max_new_tokens=max_new_tokens,
            rouge_tokenizer=rouge_tokenizer,
            progress=shown.update,
            log_samples=log_samples,
            protocol=protocol,
            tokenizer=tokenizer,
            apply_chat_template=apply_chat_template,
            system_prompt=system_prompt,
            tofu_template=tofu_template,
            api=api,
        )
    for result in results:
        _print_result(result)


@contextlib.contextmanager
def _resume_hint_on_interrupt(out: Path):
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: the samples scored so far are kept in {out}; run the same command with --resume to continue", markup=False, highlight=False
        )
        raise typer.Exit(130) from None


def _api_options(backend, base_url, api_key_env, endpoint, concurrency, timeout, response_cache, tokenizer, dry_run):
    from xbench.errors import InputError

    if backend == "local":
        given = [name for name, value in (("--base-url", base_url), ("--dry-run", dry_run)) if value]
        if given:
            raise InputError(f"{', '.join(given)}: only with --backend openai")
        return None
    if backend != "openai":
        raise InputError(f"--backend: unknown backend {backend!r}; choose from local, openai")
    if not base_url:
        raise InputError("--backend openai: give --base-url (e.g. http://localhost:8000/v1 for vllm serve, https://api.openai.com/v1)")
    from xbench.runner.backends import ApiOptions

    return ApiOptions(base_url, api_key_env=api_key_env, endpoint=endpoint, concurrency=concurrency, timeout=timeout, cache=response_cache, tokenizer=tokenizer)


def _print_api_plan(model, dataset, api, **settings) -> None:
    import json

    from xbench.runner.evaluate import plan_api_requests
    from xbench.runner.settings import EvalSettings

    planned = plan_api_requests(model, dataset, api, EvalSettings(**settings))
    for request in planned:
        record = {
            "config": request.config,
            "id": request.id,
            "endpoint": request.endpoint,
            "prompt_tokens": request.prompt_tokens,
            "cached": request.cached,
            "body": request.body,
        }
        print(json.dumps(record, ensure_ascii=False))
    cached = sum(r.cached for r in planned)
    tokens = sum(r.prompt_tokens for r in planned if not r.cached)
    how = f"counted with {api.tokenizer}" if api.tokenizer else "estimated at 4 characters per token; pass --tokenizer for exact counts"
    err_console.print(f"dry run: {len(planned):,} requests, {cached:,} answered from the cache, {tokens:,} prompt tokens to send ({how})", highlight=False)


def _print_result(result) -> None:
    from xbench.runner.report import format_metric

    metrics = "  ".join(f"{name} {format_metric(m)}" for name, m in result.metrics.items())
    # soft_wrap: a terminal may fold the line, but a copied signature has no line break in it
    out_console.print(f"{result.config:<20} {metrics}  n={result.n_samples}  {result.signature}", markup=False, highlight=False, soft_wrap=True)
    for flag in getattr(result, "flags", []):
        err_console.print(f"warning: {result.config}: {flag}", markup=False, highlight=False, soft_wrap=True)


def _use_threads(threads: int | None) -> None:
    if threads is None:
        return
    from xbench.errors import InputError

    if threads < 1:
        raise InputError("--threads: must be at least 1")
    from xbench.runner.model import require_torch

    require_torch()
    import torch

    torch.set_num_threads(threads)


@score_app.command("tofu")
@_exit_codes
def score_tofu(
    file: Annotated[Path, typer.Argument(help="JSONL: one object per line with 'generation' and 'reference' (other fields kept).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json and samples.jsonl.")],
    rouge_tokenizer: Annotated[str, typer.Option(help="default (rouge_score's, Latin letters only) or unicode.")] = "default",
    model: Annotated[str, typer.Option(help="Name of the model that generated the answers, for the results.")] = "external",
) -> None:
    """Score generations produced elsewhere with TOFU's ROUGE recall; same files as xbench eval."""
    from xbench.runner.generation import score_generations_file

    _print_result(score_generations_file(file, out, rouge_tokenizer=rouge_tokenizer, model=model))


@app.command()
@_exit_codes
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by xbench eval (or results.json files).")],
    plots: Annotated[Path | None, typer.Option(metavar="DIR", help="Folder for the plots (PNG and PDF): all models in one figure.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR", help="Folder for report.md, report.csv and report.json (accuracy ± standard error, n).")
    ] = None,
) -> None:
    """Print accuracy ± standard error per model and config; write the tables and the plots."""
    from rich.table import Table

    from xbench.runner.plots import plot
    from xbench.runner.report import check_plot_target, collect, flag_lines, format_metric, result_table, write_tables

    if plots is not None:
        check_plot_target(plots)
    results = collect(runs)
    configs, table = result_table(results)
    view = Table("model", *configs)
    for model, cells in table.items():
        view.add_row(model, *(f"{format_metric(cells[c].metric)} n={cells[c].n}" if c in cells else "-" for c in configs))
    out_console.print(view)
    for line in flag_lines(results):
        err_console.print(f"warning: {line}", markup=False, highlight=False)
    if out is not None:
        for path in write_tables(results, out):
            out_console.print(f"wrote {path}", markup=False, highlight=False)
    if plots is not None:
        for path in plot(results, plots):
            out_console.print(f"wrote {path}", markup=False, highlight=False)


@export_app.command("lm-eval")
@_exit_codes
def export_lm_eval_command(
    dataset: Annotated[str, typer.Argument(help="A folder written by xbench build, or a Hub dataset id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the task YAMLs (pass it to lm-eval as --include_path).")],
    configs: Annotated[str | None, typer.Option(help="Comma-separated configs (default: all).")] = None,
    ids: Annotated[str, typer.Option(help="Option IDs: ABCD, abcd or 1234.")] = "ABCD",
    instruction: Annotated[str, typer.Option(help="none, aware0 or aware1.")] = "none",
    protocol: Annotated[str, typer.Option(help="harness (lm-eval conventions) or study (the paper's header and option token; MMLU-style data).")] = "harness",
    tokenizer: Annotated[str | None, typer.Option(help="study: the model's tokenizer (Hub id or folder), to pick the continuation lm-eval scores.")] = None,
    dataset_path: Annotated[
        str | None,
        typer.Option(
            "--dataset-path",
            metavar="HUB_ID",
            help="Dataset the YAMLs load, e.g. the Hub id the build was pushed to (shareable tasks). [default: DATASET, a folder as its absolute path]",
        ),
    ] = None,
) -> None:
    """Write lm-evaluation-harness tasks with exactly the prompts of xbench eval."""
    from xbench.runner.export import export_lm_eval

    loaded_tokenizer = None
    if tokenizer is not None:
        from xbench.runner.model import load_tokenizer, require_torch

        require_torch()
        loaded_tokenizer = load_tokenizer(tokenizer)
    files = export_lm_eval(
        dataset,
        out,
        configs=_split_list(configs),
        ids=ids,
        instruction=instruction,
        protocol=protocol,
        tokenizer=loaded_tokenizer,
        dataset_path=dataset_path,
    )
    out_console.print(
        f"wrote {len(files)} task files to {out}; run: lm_eval --model hf --model_args pretrained=MODEL "
        f"--include_path {out} --tasks {files[0].stem} --num_fewshot 0",
        markup=False,
        highlight=False,
    )


retrieve_app = typer.Typer(help="Select documents of a corpus.", no_args_is_help=True)
app.add_typer(retrieve_app, name="retrieve")


@retrieve_app.command("hp")
@_exit_codes
def retrieve_hp(
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON index file to write.")],
    source: Annotated[str | None, typer.Option(help="Local WikiText text file or folder (default: Salesforce/wikitext from the Hub).")] = None,
    source_config: Annotated[str, typer.Option(help="WikiText config on the Hub.")] = "wikitext-103-v1",
    split: Annotated[str, typer.Option(help="Split to rank.")] = "train",
    doc_unit: Annotated[str, typer.Option(help="line (every non-empty line) or article.")] = "line",
    top_k: Annotated[int, typer.Option(help="Documents kept by BM25.")] = 1000,
    query: Annotated[Path | None, typer.Option(help="Query text file (default: the HP-Quiz text and entity names).")] = None,
) -> None:
    """Rank WikiText documents against Harry Potter text with BM25, keep the top k, add keyword matches."""
    from xbench.builders.wikitext_mixed import selected_documents
    from xbench.errors import InputError
    from xbench.retrieval import hp_query_and_keywords, select, write_index

    if not out.parent.is_dir():
        raise InputError(f"--out: folder {out.parent} does not exist")
    query_text, keywords = hp_query_and_keywords()
    if query is not None:
        try:
            query_text = query.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"--query {query}: cannot read ({type(err).__name__})") from None
    options = {"source": source, "source_config": source_config, "doc_unit": doc_unit}
    docs = [doc for _, doc in selected_documents(options, split)()]
    selected = select(docs, query_text, keywords, top_k)
    write_index(out, selected, source=source or f"Salesforce/wikitext:{source_config}:{split}", top_k=top_k, query=str(query or "hp_quiz"))
    by_rule = {rule: sum(s.rule == rule for s in selected) for rule in ("bm25", "keyword", "bm25+keyword")}
    out_console.print(f"selected {len(selected):,} of {len(docs):,} documents {by_rule}; wrote {out}")


@app.command("mt-eval")
@_exit_codes
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
    from xbench.probes.mt import engine_system, evaluate_systems, hypotheses_system, lm_system, quality_table, read_parallel, resolve_directions

    _use_threads(threads)
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


@app.command()
@_exit_codes
def embed(
    model: Annotated[str, typer.Option("--model", help="Hub id, local folder or .gguf file.")],
    source: Annotated[str, typer.Option("--source", help="WikiText text file or folder (documents: non-empty lines).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, samples.jsonl and tsne.png.")],
    docs: Annotated[int, typer.Option(help="Documents sampled with --seed.")] = 100,
    p: Annotated[float, typer.Option("--p", help="Probability of switching a word / replacing or dropping a token.")] = 0.3,
    pool: Annotated[str, typer.Option(help="Languages words switch into.")] = "en,fr,de,es,it",
    translator: Annotated[str, typer.Option(help="Engine chain for single words, e.g. freedict or memory,google.")] = "freedict",
    cache: CacheOption = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling and perturbations.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Cosine similarity of sentence embeddings under word switching, token replacement and dropout."""
    from xbench.probes.embed_run import run_embed

    _use_threads(threads)
    result = run_embed(model, source, out, docs=docs, p=p, pool=pool, translator=translator, cache=cache, seed=seed, device=device)
    _print_result(result)


@app.command()
@_exit_codes
def audit(
    dataset: Annotated[str, typer.Argument(help="A folder written by xbench build (any multiple-choice family), or a Hub dataset id.")],
    config: Annotated[str | None, typer.Option(help="Config to audit (default: the build's default config).")] = None,
    split: Annotated[str, typer.Option(help="Split to audit.")] = "test",
    model: Annotated[str | None, typer.Option(help="Also score this causal LM on the options (with --no-question).")] = None,
    no_question: Annotated[bool, typer.Option("--no-question", help="Score --model on the options without the question.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the baselines to this JSON file.")] = None,
) -> None:
    """Artifact baselines: accuracy of always-the-same-letter, surface cues and a model that never sees the question."""
    import json

    from rich.table import Table

    from xbench.audit import as_records
    from xbench.audit import audit as run_audit
    from xbench.errors import InputError

    if (model is None) != (not no_question):
        raise InputError("audit: --model and --no-question go together (the model is scored on the options alone)")
    baselines = run_audit(dataset, config=config, split=split, model=model, device=device)
    view = Table("baseline", "cue", "accuracy", "decided", "decided correct", "n")
    for b in baselines:
        view.add_row(b.name, b.description, f"{b.accuracy:.1%}", str(b.decided), str(b.decided_correct), str(b.n))
    out_console.print(view)
    if json_out is not None:
        json_out.write_text(json.dumps(as_records(baselines), indent=2) + "\n", encoding="utf-8")


@app.command()
@_exit_codes
def info(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A folder written by xbench build.")],
) -> None:
    """List a build's configs, splits and rows, and its build signature."""
    from rich.table import Table

    from xbench.build_info import read_build_info

    built = read_build_info(folder)
    out_console.print(f"{built.pretty_name or built.family} ({folder})", markup=False, highlight=False)
    if built.signature:
        out_console.print(f"build signature: {built.signature}", markup=False, highlight=False)
    if built.notice:
        out_console.print(built.notice, markup=False, highlight=False)
    table = Table("config", "split", "rows", "default")
    for config, splits in built.configs.items():
        for index, (split, rows) in enumerate(splits.items()):
            table.add_row(config if index == 0 else "", split, f"{rows:,}", "yes" if config == built.default_config and index == 0 else "")
    out_console.print(table)


@app.command()
@_exit_codes
def env() -> None:
    """Print xbench, Python, platform and package versions (paste them into a bug report)."""
    from xbench.about import environment

    for key, value in environment().items():
        out_console.print(f"{key + ':':<18}{value}", markup=False, highlight=False)


study_app = typer.Typer(help="Run the study's experiments as recipes: builds, fine-tuning, evaluations, report.", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("list")
@_exit_codes
def study_list() -> None:
    """List the recipes: one per figure or table of the study."""
    from rich.table import Table

    from xbench.study import load_recipe, recipe_names

    view = Table("recipe", "paper", "title", "steps")
    for name in recipe_names():
        recipe = load_recipe(name)
        kinds = [k for k in ("builds", "finetunes", "evaluations", "probes") if recipe.section(k)]
        view.add_row(name, ", ".join(recipe.figures), recipe.title, " ".join(f"{k}:{len(recipe.section(k))}" for k in kinds))
    out_console.print(view)


@study_app.command("run")
@_exit_codes
def study_run(
    recipe: Annotated[str, typer.Argument(help="A recipe name (xbench study list) or a recipe .yaml file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Study folder: every step's output, steps/ records, report/.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE overrides, e.g. evaluations.hp.settings.limit=50.", show_default=False)] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated models instead of the recipe's (Hub ids or local folders).")] = None,
    profile: Annotated[str, typer.Option(help="full, or smoke: SmolLM2-135M and small bundled data slices, offline on CPU.")] = "full",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan: steps, translation work, questions, tokens, time, what is cached.")] = False,
    cache: CacheOption = None,
) -> None:
    """Run a recipe end to end; steps whose inputs, settings and versions are unchanged are skipped."""
    from xbench.study import load_recipe, make_plan, run_plan

    plan = make_plan(load_recipe(recipe, overrides), profile=profile, models=_split_list(models))
    plan.cache = str(cache) if cache else None
    if dry_run:
        _print_estimates(plan, out)
        return
    outcomes = run_plan(plan, out, log=lambda line: err_console.print(line, highlight=False, markup=False))
    ran = sum(o.status != "skipped" for o in outcomes)
    out_console.print(f"{ran} step(s) ran, {len(outcomes) - ran} unchanged; report: {out / 'report' / 'results.md'}, figure: {out / 'report' / 'figure.png'}")


def _print_estimates(plan, out: Path) -> None:
    from rich.table import Table

    from xbench.study.estimate import estimate_plan

    view = Table("step", "status", "work", "time", title=f"{plan.recipe.name} ({plan.profile}): {len(plan.steps)} steps")
    total = 0.0
    unknown = 0
    for item in estimate_plan(plan, out):
        work = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in item.work.items() if v is not None) or item.note
        if item.status == "cached":
            time_text = "-"
        elif item.seconds is None:
            time_text, unknown = "?", unknown + (item.kind in ("build", "finetune", "eval"))
        else:
            time_text, total = f"{item.seconds:,.0f}s", total + item.seconds
        view.add_row(item.step, item.status, work, time_text)
    out_console.print(view)
    out_console.print(f"estimated time {total:,.0f}s from measured throughput" + (f"; {unknown} step(s) not measured yet" if unknown else ""))


@study_app.command("report")
@_exit_codes
def study_report(
    folder: Annotated[Path, typer.Argument(help="A study folder written by xbench study run.")],
) -> None:
    """Redraw a study's figure and tables (markdown, CSV, JSON) from the results in its folder."""
    from xbench.study.report import write_report

    for path in write_report(folder):
        out_console.print(f"wrote {path}")


# --- finetune ---------------------------------------------------------------------------------


@app.command()
@_exit_codes
def finetune(
    model: Annotated[str | None, typer.Option("--model", help="Hub id, local model folder or local .gguf file.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="A build folder, FOLDER:CONFIG for one of its configs (text column, or question/answer).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="New or empty folder: the fine-tuned model, train_report.json, loss.png, checkpoints/.")
    ] = None,
    recipe: Annotated[str, typer.Option(help="Hyperparameters every unset option takes: study (the paper's) or tofu.")] = "study",
    split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    text_column: Annotated[str | None, typer.Option(help="Train on this text column (default: text, else question/answer pairs).")] = None,
    qa_template: Annotated[
        str,
        typer.Option(
            help="QA data: question-answer (TOFU's phi/pythia/stablelm template), llama2-chat ([INST] ... [/INST]) or chat (the tokenizer's chat template)."
        ),
    ] = "question-answer",
    max_length: Annotated[int | None, typer.Option(help="Tokens per packed block / per QA example (study: 500).")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (study: 2e-5).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (study: 0.01).")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data (study: 1).")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Optimizer steps instead of epochs (study, WikiText-103: 200 for Llama-3-8B, 400 for Llama-2-7B).")
    ] = None,
    effective_batch_size: Annotated[int | None, typer.Option(help="Examples per optimizer step = batch x accumulation x processes (study: 32).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per device per forward pass (study: 2).")] = None,
    gradient_accumulation_steps: Annotated[int | None, typer.Option(help="Default: effective batch / (batch x processes).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Linear warm-up steps (study, as locuslab/tofu: max(1, steps // epochs)).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (study: 42).")] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank; 0 = full fine-tuning (study).")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (study config: 32).")] = None,
    merge_lora: Annotated[
        bool, typer.Option("--merge-lora", help="Save the LoRA weights merged into a plain model (the adapter goes to OUT/adapter).")
    ] = False,
    bf16: Annotated[bool | None, typer.Option("--bf16/--no-bf16", help="bfloat16 mixed precision (default: on where the GPU supports it).")] = None,
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help="Recompute activations in the backward pass: less memory, more time.")
    ] = False,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps (OUT/checkpoints); a crash loses at most N steps.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from its last checkpoint.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print steps, tokens and a time estimate from a few measured steps; write nothing.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    print_accelerate_config: Annotated[
        str | None, typer.Option("--print-accelerate-config", help="Print an accelerate config (fsdp or zero3) for `accelerate launch --config_file` and exit.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Fine-tune a causal LM on a built dataset (the study's English and mixed-language fine-tuning)."""
    from xbench.errors import InputError
    from xbench.finetune import FinetuneConfig, accelerate_config, estimate
    from xbench.finetune import finetune as run_finetune

    if print_accelerate_config is not None:
        sys.stdout.write(accelerate_config(print_accelerate_config))
        return
    for name, value in (("--model", model), ("--data", data), ("--out", out)):
        if value is None:
            raise InputError(f"{name}: required")
    config = FinetuneConfig(
        model=model,
        data=data,
        out=out,
        recipe=recipe,
        split=split,
        text_column=text_column,
        qa_template=qa_template,
        max_length=max_length,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        epochs=epochs,
        max_steps=max_steps,
        effective_batch_size=effective_batch_size,
        per_device_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        warmup_steps=warmup_steps,
        seed=seed,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        merge_lora=merge_lora,
        bf16=bf16,
        gradient_checkpointing=gradient_checkpointing,
        save_steps=save_steps,
        resume=resume,
        device=device,
    )
    try:
        with _training_progress(quiet) as on_step:
            report = (estimate if dry_run else run_finetune)(config, progress=on_step)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: {out} keeps its last checkpoint; continue with --resume")
        raise typer.Exit(130) from None
    hp = report.hyperparameters
    batch = f"effective batch {hp['effective_batch_size']} = {hp['per_device_batch_size']} x {hp['gradient_accumulation_steps']} x {hp['processes']}"
    if dry_run:
        seconds = report.estimate["estimated_seconds"]
        out_console.print(
            f"{report.steps:,} steps, {batch}, ~{report.tokens_seen:,} tokens; {report.estimate['seconds_per_step']:.2f}s per step "
            f"measured over {report.estimate['measured_steps']} steps -> about {seconds / 60:.1f} min on {report.device}; nothing written",
            highlight=False,
        )
        return
    loss = f"final loss {report.losses[-1]['loss']:.4f}, " if report.losses else ""
    out_console.print(
        f"{report.steps:,} steps, {batch}, {report.tokens_seen:,} tokens, {loss}{report.wall_seconds:.0f}s; wrote the {report.saved} to {report.out}",
        highlight=False,
    )


class _training_progress:
    """One progress bar for a training run: step, loss, tokens/s and ETA."""

    def __init__(self, quiet: bool):
        self.quiet = quiet or not sys.stderr.isatty()

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), console=err_console)
        self.bar.start()
        task = self.bar.add_task("training", total=None, status="")

        def on_step(event) -> None:
            loss = f"loss {event.loss:.4f}  " if event.loss is not None else ""
            eta = f"  ETA {event.eta_seconds / 60:.1f} min" if event.eta_seconds is not None else ""
            self.bar.update(task, completed=event.step, total=event.total, status=f"{loss}{event.tokens_per_second:,.0f} tok/s{eta}")

        return on_step

    def __exit__(self, *exc) -> None:
        if not self.quiet:
            self.bar.stop()


def _split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
