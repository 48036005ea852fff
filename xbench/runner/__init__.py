"""The reference runner: prompts, scoring, model loading and results (needs the ``run`` extra: ``pip install ".[run]"``)."""

from xbench.runner.prompts import INSTRUCTIONS, OPTION_IDS, format_example, header
from xbench.runner.protocols import PROTOCOLS
from xbench.runner.results import PromptSettings, RunResult, Sample
from xbench.runner.settings import EvalSettings

__all__ = ["INSTRUCTIONS", "OPTION_IDS", "PROTOCOLS", "EvalSettings", "PromptSettings", "RunResult", "Sample", "format_example", "header"]
