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
    file: Annotated[Path, typer.Argument(help="JSONL with source_lang, target_lang, source, target, engine.")],
    engine: Annotated[str | None, typer.Option(help="Record every entry under this engine name instead of the file's.")] = None,
    cache: CacheOption = None,
) -> None:
    """Import a translation memory into the cache."""
    from xbench.translation import TranslationCache

    with TranslationCache(cache) as store:
        added = store.import_jsonl(file, engine=engine)
    out_console.print(f"imported {added:,} new entries from {file}")


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
