"""`xbench qe DIR`: per-cell quality estimates of an existing build, written beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from .options import CacheOption
from .output import exit_codes, out_console


@dataclass(frozen=True)
class QeSettings:
    folder: Path
    engine: str
    translator: str
    source: str | None
    cache: Path | None


@exit_codes
def qe(
    folder: Annotated[Path, typer.Argument(help="A build folder (with build_report.json).")],
    engine: Annotated[str, typer.Option(help="roundtrip (back-translation, chrF against the English), labse or comet-kiwi[:model].")] = "roundtrip",
    translator: Annotated[str, typer.Option(help="With roundtrip: the engine chain that translates back to English, e.g. memory,google.")] = "memory,google",
    source: Annotated[
        str | None, typer.Option(help="The English source the build used (default: the one its report names, when that is the Hub or the sample).")
    ] = None,
    cache: CacheOption = None,
) -> None:
    """Score every translated cell of a build: writes DIR/qe.parquet (id, field, lang, qe) and DIR/qe_report.json."""
    run_qe(QeSettings(folder, engine, translator, source, cache))


def run_qe(settings: QeSettings) -> None:
    from xbench.builders import get_family
    from xbench.built_dataset import read_rows
    from xbench.errors import InputError
    from xbench.translation import TranslationCache, Translator, resolve_engines
    from xbench.translation.qe import check_engine, read_scores, roundtrip_scores, translated_cells, unique_cells, write_qe

    check_engine(settings.engine)
    report_path = settings.folder / "build_report.json"
    if not report_path.is_file():
        raise InputError(f"{settings.folder}: not a build folder (no build_report.json)")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    given = settings.source if settings.source is not None else report.get("source")
    if settings.source is None and given not in (None, "sample"):
        raise InputError(f"{report_path}: built from local files {given!r}; pass them again with --source PATH")
    family = get_family(report["dataset"])
    splits = tuple(dict.fromkeys(split for splits in report["configs"].values() for split in splits))
    english = {row["id"]: row for rows in family.load_source(given, splits).values() for row in rows}
    cells = []
    for config, config_splits in report["configs"].items():
        for split in config_splits:
            cells += translated_cells(read_rows(str(settings.folder), config, split), english, f"{settings.folder} config {config!r} {split}")
    cells = unique_cells(cells)
    if not cells:
        raise InputError(f"{settings.folder}: no translated cells to score")
    with TranslationCache(settings.cache) as store:
        back = Translator(resolve_engines(settings.translator), store)
        rows, scored = roundtrip_scores(cells, back, read_scores(settings.folder))
    summary = write_qe(settings.folder, rows)
    out_console.print(f"scored {scored:,} cells ({len(rows) - scored:,} reused from {settings.folder / 'qe.parquet'})")
    for lang, stats in summary["languages"].items():
        out_console.print(f"{lang}: n={stats['n']:,} chrF mean {stats['mean']} median {stats['median']} p10 {stats['p10']} min {stats['min']}")
