"""Silencing the progress bars and info logs of the libraries xbench drives (xbench draws its own)."""

from __future__ import annotations

import logging


def silence_libraries() -> None:
    import datasets

    datasets.disable_progress_bars()
    logging.getLogger("datasets").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
