"""Which torch device a model runs on, decided in one place for the runner, its launcher ranks, fine-tuning and local MT.

torch is imported only when a device is asked for, so the rest of xbench works without it.
"""

from __future__ import annotations

import os

from xbench.about import CPU_TORCH, INSTALL_RUN
from xbench.errors import InputError, XbenchError

DEVICES = "auto, cpu, cuda, cuda:N, mps"


def _torch():
    try:
        import torch
    except ImportError:
        raise XbenchError(f"the runner needs torch and transformers: {INSTALL_RUN}; on a CPU-only machine first {CPU_TORCH}") from None
    return torch


def default_device() -> str:
    """``auto``: the first CUDA device when there is one, else the CPU (never MPS unless asked for)."""
    return "cuda" if _torch().cuda.is_available() else "cpu"


def resolve_device(device: str) -> str:
    """``--device``: ``auto`` resolved, anything else checked against what this machine has."""
    torch = _torch()
    if device == "auto":
        return default_device()
    kind, colon, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (colon and (kind != "cuda" or not index.isdigit())):
        raise InputError(f"--device {device}: unknown device; choose from {DEVICES}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is available")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise InputError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: no Apple MPS device is available")
    return device


def launcher_device() -> str | None:
    """The GPU of this rank under torchrun or accelerate launch (``LOCAL_RANK``), or None outside a launcher or without CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and _torch().cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return None
