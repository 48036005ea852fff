"""Options several commands share, declared once (the flag, its type and its help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

_model = typer.Option("--model", help="Hub id, local model folder or local .gguf file.")

ModelOption = Annotated[str, _model]
OptionalModelOption = Annotated[str | None, _model]  # finetune: not needed with --print-accelerate-config
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch (default: torch's choice, often slow on a busy machine).")]
CacheOption = Annotated[Path | None, typer.Option("--cache", help="Translation cache (SQLite); default under the user cache dir.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Quiet: no progress, tables or notes; only the result lines and errors.")]
ConfigsOption = Annotated[str | None, typer.Option(help="Comma-separated configs (default: all).")]
IdsOption = Annotated[str, typer.Option(help="Option IDs: ABCD, abcd or 1234.")]
InstructionOption = Annotated[str, typer.Option(help="none, aware0 or aware1.")]
RougeTokenizerOption = Annotated[str, typer.Option(help="default (rouge_score's, Latin letters only) or unicode.")]


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated flag as a list; None when not given."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def use_threads(threads: int | None) -> None:
    """Apply --threads to torch (imported only when the flag is given)."""
    if threads is None:
        return
    from xbench.errors import InputError

    if threads < 1:
        raise InputError("--threads: must be at least 1")
    from xbench.runner.model import require_torch

    require_torch()
    import torch

    torch.set_num_threads(threads)
