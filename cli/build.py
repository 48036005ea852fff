"""Build commands: build a family, list languages and engines, describe a build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import CacheOption, QuietOption
from .output import exit_codes, out_console

FAMILY_OPTIONS = "Family options (tofu, wikitext_mixed, fictional_facts)"


def family_names() -> list[str]:
    """The families' folder names, read without importing them (so --help stays instant)."""
    from importlib.util import find_spec

    spec = find_spec("xbench.builders")
    folders = [Path(location) for location in (spec.submodule_search_locations or [])] if spec else []
    return sorted(child.name for folder in folders for child in folder.iterdir() if (child / "__init__.py").is_file())


@exit_codes
def languages() -> None:
    """List the supported languages and the codes engines use."""
    from rich.table import Table

    from xbench.languages import LANGUAGES

    table = Table("code", "name", "native", "script", "google", "ISO 639-3")
    for lang in LANGUAGES.values():
        table.add_row(lang.code, lang.name, lang.native_name, lang.script, lang.code_for("google"), lang.iso3)
    out_console.print(table)


@exit_codes
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


@exit_codes
def build(
    dataset: Annotated[str, typer.Argument(help=f"Dataset family: {', '.join(family_names())}.")],
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
        str | None,
        typer.Option(help="Config of the source dataset (tofu: forget10_perturbed; wikitext_mixed: wikitext-103-raw-v1).", rich_help_panel=FAMILY_OPTIONS),
    ] = None,
    translate_answers: Annotated[
        bool, typer.Option("--translate-answers", help="tofu: add translated answers in extra columns.", rich_help_panel=FAMILY_OPTIONS)
    ] = False,
    unit: Annotated[
        str | None,
        typer.Option(help="wikitext_mixed: document, sentence or words<k> (comma-separated for several configs).", rich_help_panel=FAMILY_OPTIONS),
    ] = None,
    doc_unit: Annotated[
        str | None, typer.Option(help="wikitext_mixed: line (every non-empty line) or article. [default: line]", rich_help_panel=FAMILY_OPTIONS)
    ] = None,
    pool: Annotated[
        str | None, typer.Option(help="wikitext_mixed: languages units are drawn from (default en,fr,de,es,it).", rich_help_panel=FAMILY_OPTIONS)
    ] = None,
    max_docs: Annotated[int | None, typer.Option(help="wikitext_mixed: only the first N documents.", rich_help_panel=FAMILY_OPTIONS)] = None,
    sample: Annotated[int | None, typer.Option(help="wikitext_mixed: N documents drawn at random with --seed.", rich_help_panel=FAMILY_OPTIONS)] = None,
    subset: Annotated[
        Path | None,
        typer.Option(help="wikitext_mixed: only the documents of an index file (xbench retrieve, or the study's HP index).", rich_help_panel=FAMILY_OPTIONS),
    ] = None,
    all_languages: Annotated[
        bool,
        typer.Option(
            "--all-languages",
            help="wikitext_mixed: also write <unit>_all, every document once in each pool language (the study's 5x reference, Fig. 18).",
            rich_help_panel=FAMILY_OPTIONS,
        ),
    ] = False,
    entities: Annotated[int | None, typer.Option(help="fictional_facts: trained entities. [default: 200]", rich_help_panel=FAMILY_OPTIONS)] = None,
    heldout: Annotated[
        int | None,
        typer.Option(
            help="fictional_facts: held-out entities, never trained on. [default: a quarter of --entities, at least 20]", rich_help_panel=FAMILY_OPTIONS
        ),
    ] = None,
    paraphrases: Annotated[
        int | None, typer.Option(help="fictional_facts: biographies per entity (at most the templates per fact). [default: 5]", rich_help_panel=FAMILY_OPTIONS)
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="fictional_facts: a folder of <lang>.json templates instead of the bundled ones.", rich_help_panel=FAMILY_OPTIONS)
    ] = None,
    qa: Annotated[
        Path | None, typer.Option(help="Parallel sample (FLoRes folder or JSONL): score the engine chain on it and put chrF/BLEU in the card.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Build a dataset family into a Hub-ready folder of parquet files and a card."""
    from xbench.building import build as run_build
    from xbench.progress import ProgressDisplay

    # Only the flags given on the command line: the family refuses one it does not take (exit 2).
    family_options = {
        "source_config": source_config,
        "translate_answers": translate_answers or None,
        "unit": unit,
        "doc_unit": doc_unit,
        "pool": pool,
        "max_docs": max_docs,
        "sample": sample,
        "subset": subset,
        "all_languages": all_languages or None,
        "entities": entities,
        "heldout": heldout,
        "paraphrases": paraphrases,
        "templates": templates,
    }
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
            qa=qa,
            options={name: value for name, value in family_options.items() if value is not None},
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


@exit_codes
def info(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A folder written by xbench build.")],
) -> None:
    """List a build's configs, splits and rows, and its build signature."""
    from rich.table import Table

    from xbench.build_info import read_build_info
    from xbench.built_dataset import check_dataset

    check_dataset(str(folder), "", hub=False)
    built = read_build_info(folder)
    # The title already ends in "(xbench)"; the folder goes on its own line so nothing is doubled.
    out_console.print(built.pretty_name or built.family, markup=False, highlight=False)
    out_console.print(f"folder: {folder}", markup=False, highlight=False)
    if built.signature:
        out_console.print(f"build signature: {built.signature}", markup=False, highlight=False)
    if built.notice:
        out_console.print(built.notice, markup=False, highlight=False)
    table = Table("config", "split", "rows", "default")
    for config, splits in built.configs.items():
        for index, (split, rows) in enumerate(splits.items()):
            table.add_row(config if index == 0 else "", split, f"{rows:,}", "yes" if config == built.default_config and index == 0 else "")
    out_console.print(table)
