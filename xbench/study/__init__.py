"""``xbench study``: every experiment of the study as a recipe (builds, fine-tuning, evaluations,
probes, report) run end to end with skip-if-unchanged steps, paired statistics and figures."""

from xbench.study.plan import Plan, Step, make_plan
from xbench.study.recipe import Recipe, load_recipe, recipe_names
from xbench.study.run import run_plan

__all__ = ["Plan", "Recipe", "Step", "load_recipe", "make_plan", "recipe_names", "run_plan"]
