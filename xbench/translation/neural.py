"""Neural MT engines: local seq2seq models and prompted causal LMs, in the engine chain like the others.

``hf-mt:<model>``: a transformers sequence-to-sequence model (NLLB-200, M2M-100, MADLAD-400,
Marian/OPUS-MT), greedy, batched, on the GPU when there is one. Language codes come from the
registry (NLLB's ``fra_Latn``, M2M-100's ``__fr__``, MADLAD's ``<2fr>``, Marian's ``>>fra<<``)
and are checked against the model's vocabulary before anything is translated.

``llm:<model>``: a local causal LM prompted with the translation prompt of ``mt-eval`` (Xu et
al. 2024, ALMA), greedy, cut at the first newline. ``llm-api:<model>`` and ``llm-chat:<model>``
send the same prompt to an OpenAI-compatible server (``OPENAI_BASE_URL``, key in
``OPENAI_API_KEY``) through its completions or chat endpoint.

Local engines pack requests by tokens (``max_tokens`` per batch, counted with the model's
tokenizer) instead of characters; the translator reads ``count_tokens`` and ``max_tokens``.
Models load on first use, so a build answered from the cache never loads one.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import Any

from xbench.api_client import ApiClient, MalformedReply, ServerRefused
from xbench.device import default_device
from xbench.errors import InputError, SegmentError, XbenchError
from xbench.languages import get_language

LM_PROMPT = "Translate this from {source_name} to {target_name}:\n{source_name}: {text}\n{target_name}:"
NEURAL_PREFIXES = ("hf-mt:", "llm:", "llm-api:", "llm-chat:")
DEFAULT_BATCH_TOKENS = 4096
DEFAULT_BASE_URL = "https://api.openai.com/v1"
UNIT_CHARS = 1000  # longer cells are cut at sentence boundaries first (segmentation.split_units)
MAX_NEW_TOKENS = 512


def lm_prompt(text: str, source: str, target: str) -> str:
    return LM_PROMPT.format(text=text, source_name=get_language(source).name, target_name=get_language(target).name)


def create_neural_engine(spec: str, environ: dict[str, str] | None = None):
    prefix, _, model = spec.partition(":")
    if not model.strip():
        raise InputError(f"--translator {spec}: name a model after the colon, e.g. hf-mt:facebook/nllb-200-distilled-600M")
    model = model.strip()
    if prefix == "hf-mt":
        return HfMtEngine(model)
    if prefix == "llm":
        return LlmEngine(model)
    return ApiLlmEngine(model, chat=prefix == "llm-chat", environ=environ)


def _require_transformers():
    try:
        import torch
        import transformers
    except ImportError:
        raise XbenchError("local MT engines need torch and transformers: pip install 'xbench[run]'") from None
    return torch, transformers


def _dtype(torch, device: str):
    return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


def _load(loader, model: str, what: str, **kwargs):
    try:
        return loader.from_pretrained(model, **kwargs)
    except OSError as err:
        raise InputError(f"{what}: cannot load {model!r} ({str(err).splitlines()[0][:160]}); check the id or path") from None
    except (ValueError, KeyError) as err:
        raise InputError(f"{what}: {model!r} is not a model this engine can run ({type(err).__name__}: {str(err).splitlines()[0][:160]})") from None


class _LocalModel:
    """Shared by the local engines: lazy tokenizer and model, token counting, one batch at a time."""

    concurrency = 1
    max_chars = UNIT_CHARS
    kind = ""

    def __init__(self, model: str, *, batch_tokens: int = DEFAULT_BATCH_TOKENS):
        self.model_id = model
        self.name = f"{self.kind}:{model}"
        self.max_tokens = batch_tokens
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    @cached_property
    def torch(self):
        return _require_transformers()[0]

    @cached_property
    def device(self) -> str:
        return default_device()

    def count_tokens(self, text: str) -> int:
        if text not in self._counts:
            self._counts[text] = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self._counts[text]


class HfMtEngine(_LocalModel):
    kind = "hf-mt"

    def __init__(self, model: str, *, batch_tokens: int = DEFAULT_BATCH_TOKENS, num_beams: int = 1):
        super().__init__(model, batch_tokens=batch_tokens)
        self.num_beams = num_beams

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return _load(AutoTokenizer, self.model_id, f"--translator {self.name}")

    @cached_property
    def model(self):
        from transformers import AutoModelForSeq2SeqLM

        loaded = _load(AutoModelForSeq2SeqLM, self.model_id, f"--translator {self.name}", dtype=_dtype(self.torch, self.device))
        return loaded.to(self.device).eval()

    @cached_property
    def config(self):
        from transformers import AutoConfig

        return _load(AutoConfig, self.model_id, f"--translator {self.name}")

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        return self.tokenizer.get_vocab()

    @cached_property
    def family(self) -> str:
        """nllb | m2m100 | madlad | marian | plain: how the languages are named to the model."""
        model_type = getattr(self.config, "model_type", "")
        if model_type == "m2m_100":
            return "nllb" if "Nllb" in type(self.tokenizer).__name__ or "fra_Latn" in self.vocabulary else "m2m100"
        if any(f"<2{code}>" in self.vocabulary for code in ("en", "fr", "de")):
            return "madlad"
        if model_type == "marian":
            return "marian"
        return "plain"

    def language_token(self, code: str) -> str | None:
        """The token naming ``code`` to this model; None where the model takes no language token."""
        lang = get_language(code)
        family = self.family
        if family == "nllb":
            candidates = [lang.code_for("nllb")]
        elif family == "m2m100":
            candidates = [f"__{lang.code_for('m2m100')}__"]
        elif family == "madlad":
            candidates = [f"<2{lang.code_for('madlad')}>"]
        elif family == "marian" and any(t.startswith(">>") and t.endswith("<<") for t in self.vocabulary):
            candidates = [f">>{c}<<" for c in dict.fromkeys((lang.code_for("marian"), lang.iso3, lang.code))]
        else:
            return None
        for token in candidates:
            if token in self.vocabulary:
                return token
        raise InputError(
            f"--translator {self.name}: the model has no language token for {code} ({' or '.join(candidates)}); "
            f"use another engine for {code} (see xbench languages)"
        )

    def check_pair(self, source: str, target: str) -> None:
        if self.family in ("nllb", "m2m100"):
            self.language_token(source)
        self.language_token(target)

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        torch = self.torch
        target_token = self.language_token(target)
        generate: dict[str, Any] = {"num_beams": self.num_beams, "do_sample": False}
        prefix = ""
        with self._lock:
            tokenizer = self.tokenizer
            if self.family in ("nllb", "m2m100"):
                source_token = self.language_token(source)
                tokenizer.src_lang = source_token if self.family == "nllb" else source_token.strip("_")
                generate["forced_bos_token_id"] = self.vocabulary[target_token]
            elif target_token is not None:  # madlad, multi-target marian: the target token leads the input
                prefix = f"{target_token} "
            order = sorted(range(len(texts)), key=lambda i: self.count_tokens(texts[i]))
            limit = self._input_limit()
            encoded = tokenizer([prefix + texts[i] for i in order], return_tensors="pt", padding=True, truncation=True, max_length=limit)
            if "max_length" not in self.model.generation_config.to_diff_dict():  # the model's own limit (NLLB: 200) otherwise
                generate["max_new_tokens"] = MAX_NEW_TOKENS
            with torch.inference_mode():
                output = self.model.generate(**encoded.to(self.device), **generate)
            decoded = tokenizer.batch_decode(output, skip_special_tokens=True)
        translations = [""] * len(texts)
        for position, index in enumerate(order):
            translations[index] = " ".join(decoded[position].split())
        return translations

    def _input_limit(self) -> int:
        limits = [getattr(self.config, "max_position_embeddings", None), getattr(self.tokenizer, "model_max_length", None)]
        return min([int(x) for x in limits if x and x < 100_000] or [1024])


class LlmEngine(_LocalModel):
    """A local causal LM prompted to translate; prompts in one left-padded batch, greedy."""

    kind = "llm"

    def __init__(self, model: str, *, batch_tokens: int = DEFAULT_BATCH_TOKENS):
        super().__init__(model, batch_tokens=batch_tokens)

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        tokenizer = _load(AutoTokenizer, self.model_id, f"--translator {self.name}")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    @cached_property
    def model(self):
        from transformers import AutoModelForCausalLM

        loaded = _load(AutoModelForCausalLM, self.model_id, f"--translator {self.name}", dtype=_dtype(self.torch, self.device))
        return loaded.to(self.device).eval()

    def check_pair(self, source: str, target: str) -> None:
        get_language(source)
        get_language(target)

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        torch = self.torch
        with self._lock:
            tokenizer = self.tokenizer
            encoded = tokenizer([lm_prompt(t, source, target) for t in texts], return_tensors="pt", padding=True)
            longest = max(self.count_tokens(t) for t in texts)
            with torch.inference_mode():
                output = self.model.generate(
                    **encoded.to(self.device),
                    do_sample=False,
                    max_new_tokens=min(2 * longest + 16, MAX_NEW_TOKENS),
                    pad_token_id=tokenizer.pad_token_id,
                    stop_strings=["\n"],
                    tokenizer=tokenizer,
                )
            new = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        return [text.split("\n")[0].strip() for text in new]


class ApiLlmEngine:
    """The mt-eval translation prompt sent to an OpenAI-compatible server; completions batch 16 prompts a request."""

    concurrency = 8
    max_chars = UNIT_CHARS

    def __init__(self, model: str, *, chat: bool = False, environ: dict[str, str] | None = None):
        environ = os.environ if environ is None else environ
        self.model, self.chat = model, chat
        self.name = f"{'llm-chat' if chat else 'llm-api'}:{model}"
        self.max_segments = 1 if chat else 16
        self.client = ApiClient(environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL, environ=environ)
        self._checked = False

    def check_pair(self, source: str, target: str) -> None:
        get_language(source)
        get_language(target)
        if not self._checked:
            self.client.check_model(self.model)
            self._checked = True

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        prompts = [lm_prompt(t, source, target) for t in texts]
        settings = {"model": self.model, "max_tokens": MAX_NEW_TOKENS, "temperature": 0, "stop": ["\n"]}
        try:
            if self.chat:
                return [self.client.post("chat/completions", {**settings, "messages": [{"role": "user", "content": p}]}, _chat_text) for p in prompts]
            return self.client.post("completions", {**settings, "prompt": prompts}, lambda reply: _completion_texts(reply, len(prompts)))
        except ServerRefused as err:
            if err.status == 400:  # e.g. a prompt over the context length: halving the pack isolates it
                raise SegmentError(f"{self.name}: {err.detail}") from None
            raise


def _chat_text(reply: dict[str, Any]) -> str:
    try:
        return str(reply["choices"][0]["message"]["content"] or "").split("\n")[0].strip()
    except (KeyError, IndexError, TypeError):
        raise MalformedReply("no message") from None


def _completion_texts(reply: dict[str, Any], expected: int) -> list[str]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or len(choices) != expected:
        raise MalformedReply(f"expected {expected} choices")
    return [str(c.get("text") or "").split("\n")[0].strip() for c in sorted(choices, key=lambda c: c.get("index", 0))]
