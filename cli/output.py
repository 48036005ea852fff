"""Where the CLI writes, and the one place where xbench errors become messages and exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from xbench.errors import XbenchError, disk_full


def _console(stderr: bool = False) -> Console:
    """Piped or redirected output is never wrapped at 80 columns: cells and signatures stay whole.

    No emoji codes: "--device cuda:x:" must not print as a cross mark.
    """
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 10_000, emoji=False)


out_console = _console()
err_console = _console(stderr=True)


def exit_codes(command: Callable) -> Callable:
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
        except Exception as err:  # disk full, however a library wrapped it
            full = disk_full(err)
            if full is None:
                raise
            where = f" writing {full.filename}" if full.filename else ""
            err_console.print(
                f"error: no space left on the device{where} ({full.strerror or 'disk full'}); free space and rerun",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: nothing was written (an existing --out is as it was); the translation cache keeps finished work")
            raise typer.Exit(130) from None

    return run


def print_result(result) -> None:
    """One line per scored config (metrics, n, signature); the result's warnings go to stderr."""
    from xbench.runner.report import format_metric

    metrics = "  ".join(f"{name} {format_metric(m)}" for name, m in result.metrics.items())
    # soft_wrap: a terminal may fold the line, but a copied signature has no line break in it
    out_console.print(f"{result.config:<20} {metrics}  n={result.n_samples}  {result.signature}", markup=False, highlight=False, soft_wrap=True)
    for flag in getattr(result, "flags", []):
        err_console.print(f"warning: {result.config}: {flag}", markup=False, highlight=False, soft_wrap=True)
