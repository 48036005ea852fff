"""`xbench study`: the study's experiments as recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import CacheOption, split_list
from .output import err_console, exit_codes, out_console

app = typer.Typer(help="Run the study's experiments as recipes: builds, fine-tuning, evaluations, report.", no_args_is_help=True)


@app.command("list")
@exit_codes
def study_list() -> None:
    """List the recipes: one per figure or table of the study."""
    from rich.table import Table

    from xbench.study import load_recipe, recipe_names

    view = Table("recipe", "paper", "title", "steps")
    for name in recipe_names():
        recipe = load_recipe(name)
        kinds = [k for k in ("builds", "finetunes", "evaluations", "probes") if recipe.section(k)]
        view.add_row(name, ", ".join(recipe.figures), recipe.title, " ".join(f"{k}:{len(recipe.section(k))}" for k in kinds))
    out_console.print(view)


@app.command("run")
@exit_codes
def study_run(
    recipe: Annotated[str, typer.Argument(help="A recipe name (xbench study list) or a recipe .yaml file.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Study folder: every step's output, steps/ records, report/. [required unless --dry-run]")
    ] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE overrides, e.g. evaluations.hp.settings.limit=50.", show_default=False)] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated models instead of the recipe's (Hub ids or local folders).")] = None,
    profile: Annotated[str, typer.Option(help="full, or smoke: SmolLM2-135M and small bundled data slices, offline on CPU.")] = "full",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan: steps, translation work, questions, tokens, time, what is cached.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the plan as JSON on stdout (steps with id, kind, model and resolved settings).")
    ] = False,
    cache: CacheOption = None,
) -> None:
    """Run a recipe end to end; steps whose inputs, settings and versions are unchanged are skipped."""
    from xbench.errors import InputError
    from xbench.study import load_recipe, make_plan, run_plan

    if as_json and not dry_run:
        raise InputError("--json: only with --dry-run")
    if out is None and not dry_run:
        raise InputError("--out: give the study folder (only --dry-run can go without one)")
    plan = make_plan(load_recipe(recipe, overrides), profile=profile, models=split_list(models))
    plan.cache = str(cache) if cache else None
    if dry_run and as_json:
        import json

        from xbench.study.plan_json import plan_json

        typer.echo(json.dumps(plan_json(plan, out), indent=2, ensure_ascii=False, default=str))
        return
    if dry_run:
        if out is None:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="xbench-study-plan-") as folder:
                _print_estimates(plan, Path(folder) / "study")
        else:
            _print_estimates(plan, out)
        return
    outcomes = run_plan(plan, out, log=lambda line: err_console.print(line, highlight=False, markup=False))
    ran = sum(o.status != "skipped" for o in outcomes)
    out_console.print(f"{ran} step(s) ran, {len(outcomes) - ran} unchanged; report: {out / 'report' / 'results.md'}, figure: {out / 'report' / 'figure.png'}")


def _print_estimates(plan, out: Path) -> None:
    from rich.table import Table

    from xbench.study.estimate import estimate_plan

    view = Table("step", "status", "work", "time", title=f"{plan.recipe.name} ({plan.profile}): {len(plan.steps)} steps")
    total = 0.0
    unknown = 0
    for item in estimate_plan(plan, out):
        work = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in item.work.items() if v is not None) or item.note
        if item.status == "cached":
            time_text = "-"
        elif item.seconds is None:
            time_text, unknown = "?", unknown + (item.kind in ("build", "finetune", "eval"))
        else:
            time_text, total = f"{item.seconds:,.0f}s", total + item.seconds
        view.add_row(item.step, item.status, work, time_text)
    out_console.print(view)
    out_console.print(f"estimated time {total:,.0f}s from measured throughput" + (f"; {unknown} step(s) not measured yet" if unknown else ""))


@app.command("report")
@exit_codes
def study_report(
    folder: Annotated[Path, typer.Argument(help="A study folder written by xbench study run.")],
) -> None:
    """Redraw a study's figure and tables (markdown, CSV, JSON) from the results in its folder."""
    from xbench.study.report import write_report

    for path in write_report(folder):
        out_console.print(f"wrote {path}")
