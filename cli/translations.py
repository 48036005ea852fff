"""`xbench translations`: translation memories in and out of the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import CacheOption
from .output import exit_codes, out_console

app = typer.Typer(help="Move translation memories in and out of the cache (JSONL).", no_args_is_help=True)


@app.command("import")
@exit_codes
def translations_import(
    file: Annotated[
        Path, typer.Argument(help="JSONL with source_lang, target_lang, source, target, engine; with --from, an MMMLU or Global-MMLU file or folder.")
    ],
    engine: Annotated[str | None, typer.Option(help="Record every entry under this engine name instead of the file's.")] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Human translations of the MMLU test items: mmmlu (CSV: Question, A-D, Answer, Subject) or global-mmlu."),
    ] = None,
    langs: Annotated[str | None, typer.Option(help="With --from: languages to import, comma-separated (default: every one found).")] = None,
    english: Annotated[
        str | None, typer.Option(help="With --from: the English cais/mmlu test split to align with (a parquet/JSONL file or folder; default: the Hub).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="With --from: overwrite existing entries of the same provenance.")] = False,
    cache: CacheOption = None,
) -> None:
    """Import a translation memory, or MMMLU / Global-MMLU human translations, into the cache."""
    from xbench.translation import TranslationCache

    if from_ is not None:
        _import_human(from_, file, langs, english, replace, cache)
        return
    with TranslationCache(cache) as store:
        added = store.import_jsonl(file, engine=engine)
    out_console.print(f"imported {added:,} new entries from {file}")


def _import_human(source: str, path: Path, langs: str | None, english: str | None, replace: bool, cache: Path | None) -> None:
    from xbench.builders.mmlu_mixup import load_source
    from xbench.errors import InputError
    from xbench.translation import TranslationCache
    from xbench.translation.human import SOURCES, discover_files, english_items, read_cells, select_languages, store_cells

    if source not in SOURCES:
        raise InputError(f"--from {source!r}: expected one of {', '.join(SOURCES)}")
    wanted = [code.strip() for code in langs.split(",") if code.strip()] if langs else None
    files = discover_files(path)
    if path.is_file() and wanted and len(wanted) == 1 and not files:
        files = {wanted[0]: path}
    files = select_languages(files, wanted, path)
    items = english_items(load_source(english, ("test",))["test"])
    read = {lang: read_cells(source, file, lang, items)[0] for lang, file in files.items()}  # all checked before any is stored
    with TranslationCache(cache) as store:
        for lang, cells in read.items():
            summary = store_cells(store, cells, replace=replace)
            counts = ", ".join(f"{n:,} {p}" for p, n in summary.by_provenance.items())
            kept = f"; {summary.kept:,} existing entries kept (--replace overwrites them)" if summary.kept else ""
            out_console.print(f"{lang}: imported {summary.added:,} new entries from {files[lang]} ({counts}){kept}")


@app.command("export")
@exit_codes
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
