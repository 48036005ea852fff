"""About xbench: its version and the environment it runs in (for bug reports)."""

from __future__ import annotations

import typer

from .output import exit_codes, out_console


def show_version(value: bool) -> None:
    if value:
        from xbench.about import version_line

        out_console.print(version_line(), markup=False, highlight=False)
        raise typer.Exit()


@exit_codes
def env() -> None:
    """Print xbench, Python, platform and package versions (paste them into a bug report)."""
    from xbench.about import environment

    for key, value in environment().items():
        out_console.print(f"{key + ':':<18}{value}", markup=False, highlight=False)
