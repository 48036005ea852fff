"""Plain Click help in sections: the rich_help_panel of a command or option names its section.

Typer draws panels only with rich formatting (boxed, slower, and hard to read piped); xbench keeps
plain help, so these classes write one titled section per panel instead.
"""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup


def _sections(items, default: str, order: tuple[str, ...] = ()) -> dict[str, list]:
    """(panel, row) pairs grouped by panel: the unnamed panel first, then those in ``order``, then the others as they come."""
    sections: dict[str, list] = {default: [], **{panel: [] for panel in order}}
    for panel, row in items:
        sections.setdefault(panel or default, []).append(row)
    return {title: rows for title, rows in sections.items() if rows}


def _write_sections(formatter, sections: dict[str, list], col_max: int = 30) -> None:
    """Each section as Click writes its one Options section, aligned with the others."""
    width = min(col_max, max(len(term) for rows in sections.values() for term, _ in rows))
    for title, rows in sections.items():
        with formatter.section(title):
            formatter.write_dl([(term.ljust(width), text) for term, text in rows], col_max=col_max)


def _format_params(command, ctx, formatter) -> None:
    arguments, options = [], []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((None, record))
        else:
            options.append((getattr(param, "rich_help_panel", None), record))
    if arguments:
        _write_sections(formatter, _sections(arguments, "Arguments"))
    if options:
        _write_sections(formatter, _sections(options, "Options"))


class PanelCommand(TyperCommand):
    """A command whose options are listed in sections by their rich_help_panel."""

    def format_options(self, ctx, formatter) -> None:
        _format_params(self, ctx, formatter)


class PanelGroup(TyperGroup):
    """A command group whose subcommands are listed in sections by their rich_help_panel (in the order of ``panels``)."""

    panels: tuple[str, ...] = ()

    def format_options(self, ctx, formatter) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx, formatter) -> None:
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if command is not None and not command.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        rows = [(command.rich_help_panel, (name, command.get_short_help_str(limit))) for name, command in commands]
        _write_sections(formatter, _sections(rows, "Commands", self.panels))
