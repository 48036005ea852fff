"""What this installation is: the distribution name, install hints and versions for bug reports."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from xbench import __version__

# PyPI's `xbench` is an unrelated project: the distribution is published under this name,
# while the import name and the command stay `xbench`.
DISTRIBUTION = "xbench-crossling"
INSTALL_RUN = f'pip install "{DISTRIBUTION}[run]" (from a clone: pip install ".[run]")'
CPU_TORCH = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"

REPORTED_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "datasets",
    "huggingface-hub",
    "pyarrow",
    "polars",
    "numpy",
    "deep-translator",
    "sacrebleu",
    "rouge-score",
    "lm-eval",
    "typer",
    "rich",
)


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_line() -> str:
    return f"xbench {__version__} ({DISTRIBUTION}), Python {platform.python_version()}"


def environment() -> dict[str, str]:
    """Versions and platform facts worth pasting into a bug report (no paths, no tokens)."""
    info = {
        "xbench": __version__,
        "distribution": f"{DISTRIBUTION} {installed_version(DISTRIBUTION) or 'not installed (running from source)'}",
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "in a venv": "yes" if sys.prefix != sys.base_prefix else "no",
    }
    for name in REPORTED_PACKAGES:
        info[name] = installed_version(name) or "-"
    info.update(_torch_facts())
    return info


def _torch_facts() -> dict[str, str]:
    if installed_version("torch") is None:
        return {}
    try:
        import torch
    except Exception as err:  # a broken torch install is exactly what a bug report needs to show
        return {"torch import": f"failed ({type(err).__name__})"}
    facts = {"torch threads": str(torch.get_num_threads()), "cuda": torch.version.cuda or "none (CPU build)"}
    if torch.cuda.is_available():
        facts["gpus"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return facts
