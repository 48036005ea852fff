"""Loading a causal LM and its tokenizer: a Hub id, a local folder or a local ``.gguf`` file.

torch and transformers are an extra (``pip install ".[run]"`` or ``xbench-crossling[run]``); they are imported here,
lazily, so the rest of xbench works without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.about import CPU_TORCH, INSTALL_RUN
from xbench.device import resolve_device
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
    tokenizer_source: str | None = None  # --tokenizer, when not the model's own


def require_torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise XbenchError(f"the runner needs torch and transformers: {INSTALL_RUN}; on a CPU-only machine first {CPU_TORCH}") from None
    return torch


def resolve_dtype(dtype: str, device: str, *, kind: str = "mmlu", protocol: str = "harness"):
    """``auto``: the official code's precision for ``kind`` (mmlu, hp, tofu) under the study protocol
    (see :func:`xbench.runner.protocols.auto_dtype`); CPU keeps float32."""
    from xbench.runner.protocols import auto_dtype

    torch = require_torch()
    if dtype not in DTYPES:
        raise InputError(f"--dtype: unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if dtype == "auto":
        bf16 = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return getattr(torch, auto_dtype(kind, device, protocol, bf16))
    return getattr(torch, dtype)


def load_tokenizer(tokenizer: str):
    """``--tokenizer``: a Hub id or a local folder, for checkpoints whose tokenizer lives elsewhere."""
    from transformers import AutoTokenizer

    path = Path(tokenizer).expanduser()
    if not path.exists() and (tokenizer.startswith((".", "/", "~")) or tokenizer.count("/") > 1):
        raise InputError(f"--tokenizer: {path} does not exist")
    try:
        return AutoTokenizer.from_pretrained(str(path) if path.exists() else tokenizer)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"--tokenizer {tokenizer}: cannot load a tokenizer ({str(err).splitlines()[0][:200]})") from None


def load_model(
    model: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    device_map: str | None = None,
    tokenizer: str | None = None,
    kind: str = "mmlu",
    protocol: str = "harness",
) -> LoadedModel:
    require_torch()
    silence_libraries()  # xbench draws its own progress; no "Loading weights" bar (eval, mt-eval, embed)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device, kind=kind, protocol=protocol)
    own_tokenizer = load_tokenizer(tokenizer) if tokenizer else None
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
        tokenizer_ = own_tokenizer or AutoTokenizer.from_pretrained(source, **kwargs)
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
    return LoadedModel(loaded, tokenizer_, model, revision, device, str(torch_dtype).removeprefix("torch."), tokenizer)


def plain_copy(model: Any) -> Any:
    """The same (dequantized) weights in a plain model of the same architecture.

    ``save_pretrained`` and the Trainer refuse a model loaded from a ``.gguf`` file; its plain copy does not.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    settings = model.config.to_dict()
    settings.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(**settings))
    plain.load_state_dict(model.state_dict())
    return plain


def model_fingerprint(loaded: LoadedModel) -> dict[str, Any]:
    """What besides the prompt decides a prediction: the model and its revision, its dtype, its tokenizer.

    A local model folder or ``.gguf`` file has no revision: the size and modification time of
    its files stand in for one, so weights saved again into the same folder count as another model.
    """
    path = Path(loaded.name).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    return {
        "model": loaded.name,
        "revision": loaded.revision,
        "dtype": loaded.dtype,
        "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
        "tokenizer": tokenizer_fingerprint(loaded.tokenizer),
    }


def tokenizer_fingerprint(tokenizer: Any) -> str | None:
    """sha256 of the tokenizer's full definition (vocabulary, merges, normalisation, special tokens, chat template)."""
    if tokenizer is None:
        return None
    import hashlib
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = [type(tokenizer).__name__, getattr(tokenizer, "chat_template", None), getattr(tokenizer, "add_bos_token", None), str(tokenizer.special_tokens_map)]
    return hashlib.sha256((definition + json.dumps(extra, default=str)).encode("utf-8")).hexdigest()
