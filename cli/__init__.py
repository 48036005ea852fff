"""The ``xbench`` command: a thin Typer layer over the library; exit codes are set only here (output.exit_codes).

One module per command group; this file builds the app and lists every command in its help section.
Commands import the library inside their bodies, so ``xbench --help`` loads neither torch nor datasets.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import about, audit, build, evaluate, finetune, probes, push, qe, retrieve, study, translations
from .help import PanelCommand, PanelGroup

BUILD, EVALUATE, PROBES, TRAIN, STUDY, ABOUT = "Build", "Evaluate", "Probes", "Fine-tune", "Study", "About"


class _Commands(PanelGroup):
    panels = (BUILD, EVALUATE, PROBES, TRAIN, STUDY, ABOUT)


# Plain Click help: flags read as flags, every default shows, and piped help is not boxed;
# PanelGroup/PanelCommand still list commands and options under their rich_help_panel.
app = typer.Typer(
    cls=_Commands,
    help="Build mixed-language benchmarks and measure the crosslingual knowledge barrier.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=about.show_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Build mixed-language benchmarks and measure the crosslingual knowledge barrier."""


app.command(rich_help_panel=BUILD, cls=PanelCommand)(build.build)
app.command(rich_help_panel=BUILD)(build.info)
app.command(rich_help_panel=BUILD)(build.languages)
app.command(rich_help_panel=BUILD)(build.engines)
app.add_typer(translations.app, name="translations", rich_help_panel=BUILD)
app.command(rich_help_panel=BUILD)(qe.qe)
app.add_typer(retrieve.app, name="retrieve", rich_help_panel=BUILD)
app.command(rich_help_panel=BUILD)(push.push)
app.command("eval", rich_help_panel=EVALUATE, cls=PanelCommand)(evaluate.eval_command)
app.command(rich_help_panel=EVALUATE)(evaluate.report)
app.add_typer(evaluate.export_app, name="export", rich_help_panel=EVALUATE)
app.add_typer(evaluate.score_app, name="score", rich_help_panel=EVALUATE)
app.command(rich_help_panel=EVALUATE)(audit.audit)
app.command("mt-eval", rich_help_panel=PROBES)(probes.mt_eval)
app.command(rich_help_panel=PROBES)(probes.embed)
app.command(rich_help_panel=TRAIN)(finetune.finetune)
app.add_typer(study.app, name="study", rich_help_panel=STUDY)
app.command(rich_help_panel=ABOUT)(about.env)


def main() -> None:
    app()
