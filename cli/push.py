"""Share a build: upload it to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import err_console, exit_codes, out_console


@exit_codes
def push(
    folder: Annotated[Path, typer.Argument(help="A folder written by xbench build.")],
    repo: Annotated[str, typer.Option("--repo", help="Hub dataset repo, ORG/NAME.")],
    revision: Annotated[str | None, typer.Option(help="Tag to create for this upload, e.g. v1.0.")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Push a sample or pseudo-translated build anyway (refused otherwise).")] = False,
) -> None:
    """Upload a built folder to the Hugging Face Hub (token from HF_TOKEN or a login) and tag it."""
    from xbench.hub import manifest
    from xbench.hub import push as run_push

    if (folder / "build_report.json").is_file():
        left_out = manifest(folder).left_out
        if left_out:
            shown = ", ".join(left_out[:20]) + (f" and {len(left_out) - 20} more" if len(left_out) > 20 else "")
            err_console.print(f"not uploaded (not written by the build): {shown}", markup=False, highlight=False, soft_wrap=True)
    url = run_push(folder, repo, revision=revision, private=private, force=force)
    out_console.print(f"pushed {folder} to {repo}{f' (tag {revision})' if revision else ''}: {url}")
