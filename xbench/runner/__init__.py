"""The reference runner: prompts, scoring, model loading and results (needs ``xbench[run]``)."""

from xbench.runner.prompts import INSTRUCTIONS, OPTION_IDS, format_example, header
from xbench.runner.protocols import PROTOCOLS
from xbench.runner.results import PromptSettings, RunResult, Sample

__all__ = ["INSTRUCTIONS", "OPTION_IDS", "PROTOCOLS", "PromptSettings", "RunResult", "Sample", "format_example", "header"]
