"""`xbench retrieve`: select documents of a corpus (the index a wikitext_mixed build takes with --subset)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import exit_codes, out_console

app = typer.Typer(help="Select documents of a corpus.", no_args_is_help=True)


@app.command("hp")
@exit_codes
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
    from xbench.builders.hp_quiz import bundled_quiz, data_path
    from xbench.corpus import selected_documents
    from xbench.errors import InputError
    from xbench.retrieval import quiz_query_and_keywords, select, write_index

    if not out.parent.is_dir():
        raise InputError(f"--out: folder {out.parent} does not exist")
    query_text, keywords = quiz_query_and_keywords(bundled_quiz(), data_path("common_word_names.txt"))
    if query is not None:
        try:
            query_text = query.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"--query {query}: cannot read ({type(err).__name__})") from None
    docs = [doc for _, doc in selected_documents(split, source=source, source_config=source_config, doc_unit=doc_unit)()]
    selected = select(docs, query_text, keywords, top_k)
    write_index(out, selected, source=source or f"Salesforce/wikitext:{source_config}:{split}", top_k=top_k, query=str(query or "hp_quiz"))
    by_rule = {rule: sum(s.rule == rule for s in selected) for rule in ("bm25", "keyword", "bm25+keyword")}
    out_console.print(f"selected {len(selected):,} of {len(docs):,} documents {by_rule}; wrote {out}")
