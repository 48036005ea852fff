"""Loading a causal LM and its tokenizer: a Hub id, a local folder or a local ``.gguf`` file.

torch and transformers are an extra (``pip install ".[run]"`` or ``xbench-crossling[run]``); they are imported here,
lazily, so the rest of xbench works without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.about import CPU_TORCH, INSTALL_RUN
from xbench.errors import InputError, XbenchError
from xbench.quiet import silence_libraries

DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    revision: str | None
    device: str
    dtype: str


def require_torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise XbenchError(f"the runner needs torch and transformers: {INSTALL_RUN}; on a CPU-only machine first {CPU_TORCH}") from None
    return torch


def resolve_device(device: str) -> str:
    torch = require_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is available")
    return device


def resolve_dtype(dtype: str, device: str):
    torch = require_torch()
    if dtype not in DTYPES:
        raise InputError(f"--dtype: unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, dtype)


def load_model(model: str, *, dtype: str = "auto", device: str = "auto", device_map: str | None = None) -> LoadedModel:
    require_torch()
    silence_libraries()  # xbench draws its own progress; no "Loading weights" bar (eval, mt-eval, embed)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    path = Path(model).expanduser()
    kwargs: dict[str, Any] = {}
    if path.suffix == ".gguf":
        if not path.is_file():
            raise InputError(f"--model: {path} does not exist")
        source, kwargs["gguf_file"] = str(path.parent), path.name
    elif path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"--model: {path} is not a model folder (no config.json)")
        source = str(path)
    elif model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise InputError(f"--model: {path} does not exist")
    else:
        source = model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, device_map=device_map, **kwargs)
    except OSError as err:
        raise XbenchError(f"could not load model {model!r} ({str(err).splitlines()[0][:200]}); check the id, the network or HF_TOKEN") from None
    except (ValueError, ImportError, KeyError) as err:  # unknown architecture, gguf without the gguf package, ...
        raise InputError(f"--model {model}: cannot load ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    if device_map is None:
        loaded.to(device)
    else:  # inputs go where the embeddings are
        device = str(loaded.get_input_embeddings().weight.device)
    loaded.eval()
    revision = getattr(loaded.config, "_commit_hash", None)
    return LoadedModel(loaded, tokenizer, model, revision, device, str(torch_dtype).removeprefix("torch."))
