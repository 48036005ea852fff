"""`xbench audit`: artifact baselines of a multiple-choice build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import DeviceOption
from .output import exit_codes, out_console


@exit_codes
def audit(
    dataset: Annotated[str, typer.Argument(help="A folder written by xbench build (any multiple-choice family), or a Hub dataset id.")],
    config: Annotated[str | None, typer.Option(help="Config to audit (default: the build's default config).")] = None,
    split: Annotated[str, typer.Option(help="Split to audit.")] = "test",
    model: Annotated[str | None, typer.Option(help="Also score this causal LM on the options (with --no-question).")] = None,
    no_question: Annotated[bool, typer.Option("--no-question", help="Score --model on the options without the question.")] = False,
    device: DeviceOption = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the baselines to this JSON file.")] = None,
) -> None:
    """Artifact baselines: accuracy of always-the-same-letter, surface cues and a model that never sees the question."""
    import json

    from rich.table import Table

    from xbench.audit import audit as run_audit
    from xbench.built_dataset import check_dataset
    from xbench.cues import as_records
    from xbench.errors import InputError

    if (model is None) != (not no_question):
        raise InputError("audit: --model and --no-question go together (the model is scored on the options alone)")
    check_dataset(dataset, "")
    baselines = run_audit(dataset, config=config, split=split, model=model, device=device)
    view = Table("baseline", "cue", "accuracy", "decided", "decided correct", "n")
    for b in baselines:
        view.add_row(b.name, b.description, f"{b.accuracy:.1%}", str(b.decided), str(b.decided_correct), str(b.n))
    out_console.print(view)
    if json_out is not None:
        json_out.write_text(json.dumps(as_records(baselines), indent=2) + "\n", encoding="utf-8")
