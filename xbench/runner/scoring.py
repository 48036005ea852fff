"""Multiple-choice scoring from the logits at the last prompt position.

``maxprob``: softmax over the option-ID tokens, argmax. ``first-token``: the greedy next
token over the whole vocabulary, which counts only if it is an option ID (as for closed
models that answer in text). Which token is an option's, and how the first token is compared,
depend on the protocol (:mod:`xbench.runner.protocols`). One forward pass per question: the demo prefix shared by a
group (a subject) is encoded once and its KV cache reused, and the LM head is computed only
at the last position.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from xbench.errors import InputError
from xbench.runner import protocols

STRATEGIES = ("maxprob", "first-token")
_CONTEXT = "Answer:"


@dataclass(frozen=True)
class OptionTokens:
    """What follows ``Answer:`` for each option ID: shared lead tokens, then one distinct token each."""

    ids: tuple[str, ...]
    lead: tuple[int, ...]
    tokens: tuple[int, ...]


def resolve_option_tokens(tokenizer, ids: Sequence[str]) -> OptionTokens:
    """Find the token each option ID becomes after ``Answer:`` with this tokenizer.

    Usually `` A`` is one token. Where a tokenizer splits it (a lone space token, then ``A``),
    the shared lead tokens are appended to the prompt and the option tokens read after them.
    """
    base = tokenizer(_CONTEXT, add_special_tokens=False)["input_ids"]
    continuations = []
    for label in ids:
        full = tokenizer(f"{_CONTEXT} {label}", add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) == len(base):
            raise InputError(f"cannot find the token for option {label!r} after {_CONTEXT!r} with this tokenizer")
        continuations.append(full[len(base) :])
    lead = 0
    while all(len(c) > lead + 1 for c in continuations) and len({c[lead] for c in continuations}) == 1:
        lead += 1
    tokens = tuple(c[lead] for c in continuations)
    if len(set(tokens)) != len(tokens):
        raise InputError(f"option ids {''.join(ids)} do not map to distinct tokens with this tokenizer")
    return OptionTokens(tuple(ids), tuple(continuations[0][:lead]), tokens)


def option_tokens(tokenizer, ids: Sequence[str], protocol: str) -> OptionTokens:
    """The token each option ID is scored with under ``protocol``."""
    if protocol != protocols.STUDY:
        return resolve_option_tokens(tokenizer, ids)
    tokens = tuple(protocols.study_option_token(tokenizer, label) for label in ids)
    if len(set(tokens)) != len(tokens):
        raise InputError(f"option ids {''.join(ids)} do not map to distinct tokens with this tokenizer")
    return OptionTokens(tuple(ids), (), tokens)


@dataclass
class Scored:
    probs: list[float]  # softmax over the option tokens
    logprobs: list[float]  # log-probability of each option token over the whole vocabulary
    prediction: int  # index of the chosen option, -1 when first-token gave no option ID
    token: int  # the greedy token over the whole vocabulary
    generation: str | None = None  # translate-then-answer: what the model wrote before answering


def _common_prefix_length(encoded: Sequence[Sequence[int]]) -> int:
    """Tokens shared by every sequence, leaving at least one token of each to feed."""
    limit = min(len(ids) for ids in encoded) - 1
    first = encoded[0]
    length = 0
    while length < limit and all(ids[length] == first[length] for ids in encoded):
        length += 1
    return length


def _returned_cache(output):
    """transformers 5 names the returned KV cache ``cache``; older versions ``past_key_values``."""
    return output.cache if "cache" in output else output.past_key_values


def _cache_keyword(model) -> str:
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


PATHS = ("prefix-cache", "prefix-batched", "left-padded")


def scoring_path(batch: int) -> str:
    """Which forward-pass layout scores a subject's questions: one home for the choice.

    Batch 1 keeps one question per pass over the prefix cache (fastest on CPU); larger batches
    share the prefix cache across right-padded suffixes, which computes each demo once and gives
    the same predictions as batch 1 (probabilities within 1e-5 in float32). ``left-padded``
    (no cache, every prompt whole) stays available to callers that ask for it.
    """
    return "prefix-cache" if batch == 1 else "prefix-batched"


class McScorer:
    def __init__(
        self,
        model,
        tokenizer,
        options: OptionTokens,
        *,
        strategy: str = "maxprob",
        device: str = "cpu",
        protocol: str = protocols.HARNESS,
        add_special_tokens: bool = True,
    ):
        if strategy not in STRATEGIES:
            raise InputError(f"--strategy: unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        import torch

        self.torch = torch
        self.model, self.tokenizer, self.options = model, tokenizer, options
        self.strategy, self.device = strategy, device
        self.protocol, self.add_special_tokens = protocols.check_protocol(protocol), add_special_tokens
        self._cache_kw = _cache_keyword(model)
        self._option_index = torch.tensor(options.tokens)

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=self.add_special_tokens)["input_ids"]) + list(self.options.lead)

    def _decide(self, logits) -> Scored:
        torch = self.torch
        logits = logits.float()
        option_logits = logits[self._option_index]
        probs = torch.softmax(option_logits, dim=-1)
        logprobs = torch.log_softmax(logits, dim=-1)[self._option_index]
        token = int(torch.argmax(logits))
        if self.strategy == "maxprob":
            prediction = int(torch.argmax(probs))
        elif self.protocol == protocols.STUDY:  # the decoded token must be the option id, exactly
            text = self.tokenizer.decode([token], skip_special_tokens=True, clean_up_tokenization_spaces=True)
            matches = [i for i, label in enumerate(self.options.ids) if protocols.first_token_matches(text, label, self.protocol)]
            prediction = matches[0] if matches else -1
        else:
            prediction = self.options.tokens.index(token) if token in self.options.tokens else -1
        return Scored(probs.tolist(), logprobs.tolist(), prediction, token)

    def score_group(self, prompts: Sequence[str]) -> list[Scored]:
        return list(self.iter_group(prompts))

    def iter_group(self, prompts: Sequence[str]) -> Iterator[Scored]:
        """Score prompts that share a demo prefix, encoding the shared tokens once; yields one by one.

        The shared part is the longest common prefix of the prompts' token ids, not of their
        text: tokenizers often merge across the text boundary (``"\n\n"`` becomes one token
        at the end of a prefix but two before a word), so caching the text prefix's tokens
        would be inexact.
        """
        torch = self.torch
        encoded = [self.encode(p) for p in prompts]
        shared = _common_prefix_length(encoded)
        cache = None
        if shared:
            with torch.inference_mode():
                cache = _returned_cache(self.model(torch.tensor([encoded[0][:shared]], device=self.device), use_cache=True))
        for ids in encoded:
            with torch.inference_mode():  # entered per question: a paused generator must not leak it to the caller
                if cache is None:
                    out = self.model(torch.tensor([ids], device=self.device), logits_to_keep=1)
                else:
                    suffix = torch.tensor([ids[shared:]], device=self.device)
                    out = self.model(suffix, use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
                    cache.crop(-(cache.get_seq_length() - shared))
                scored = self._decide(out.logits[0, -1])
            yield scored

    def score_prefix_batched(self, prompts: Sequence[str], batch: int) -> list[Scored]:
        """Score prompts that share a demo prefix, ``batch`` suffixes per forward pass over one prefix cache.

        The prefix (the prompts' longest common token prefix) is encoded once; each chunk of
        suffixes gets a copy of its cache expanded to the chunk's size. Suffixes are right-padded:
        the mask is all ones over the prefix, positions continue from it, and the logits are read
        at each suffix's last real token, so padding never reaches a scored position.
        """
        torch = self.torch
        encoded = [self.encode(p) for p in prompts]
        shared = _common_prefix_length(encoded)
        if not shared:
            return [s for start in range(0, len(prompts), batch) for s in self.score_batch(prompts[start : start + batch])]
        with torch.inference_mode():
            prefix = _returned_cache(self.model(torch.tensor([encoded[0][:shared]], device=self.device), use_cache=True))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths pad less
        scored: dict[int, Scored] = {}
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            scored.update(zip(chunk, self._score_suffixes(prefix, shared, [encoded[i][shared:] for i in chunk])))
        return [scored[i] for i in range(len(prompts))]

    def _score_suffixes(self, prefix, shared: int, suffixes: Sequence[Sequence[int]]) -> list[Scored]:
        torch = self.torch
        width = max(len(ids) for ids in suffixes)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.tensor([list(ids) + [pad] * (width - len(ids)) for ids in suffixes], device=self.device)
        mask = torch.tensor([[1] * (shared + len(ids)) + [0] * (width - len(ids)) for ids in suffixes], device=self.device)
        positions = torch.arange(shared, shared + width, device=self.device).expand(len(suffixes), width)
        last = [len(ids) - 1 for ids in suffixes]
        keep = sorted(set(last))  # the LM head runs only at the distinct last positions
        cache = copy.deepcopy(prefix)
        cache.batch_repeat_interleave(len(suffixes))
        with torch.inference_mode():
            out = self.model(
                input_ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=torch.tensor(keep, device=self.device),
                **{self._cache_kw: cache},
            )
        return [self._decide(out.logits[row, keep.index(end)]) for row, end in enumerate(last)]

    def score_batch(self, prompts: Sequence[str]) -> list[Scored]:
        """Score prompts in one left-padded batch (no prefix cache)."""
        torch = self.torch
        encoded = [self.encode(p) for p in prompts]
        width = max(len(ids) for ids in encoded)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        return [self._decide(out.logits[i, -1]) for i in range(len(prompts))]

    def score_after_translation(self, prompts: Sequence[str], max_new_tokens: int, cue: str = _CONTEXT) -> list[Scored]:
        """Translate-then-answer: greedy decoding until the model writes ``Answer:``, then score there.

        If the model never writes the cue within ``max_new_tokens``, the cue is appended.
        """
        from xbench.runner.generation import greedy_continuation

        results = []
        for prompt in prompts:
            text = greedy_continuation(self.model, self.tokenizer, prompt, max_new_tokens, self.device, stop=cue, add_special_tokens=self.add_special_tokens)
            cut = text.find(cue)
            written = text[: cut + len(cue)] if cut >= 0 else text.rstrip() + "\n" + cue
            scored = self.score_plain(prompt + written)
            scored.generation = written
            results.append(scored)
        return results

    def answer_by_generation(self, prompts: Sequence[str], max_new_tokens: int) -> list[Scored]:
        """Study translate-then-answer: greedy generation, then the option id written after ``Answer:``."""
        from xbench.runner.generation import greedy_continuation

        results = []
        for prompt in prompts:
            text = greedy_continuation(self.model, self.tokenizer, prompt, max_new_tokens, self.device, add_special_tokens=self.add_special_tokens)
            prediction = protocols.read_written_answer(text, self.options.ids)
            results.append(Scored([], [], prediction, -1, text))
        return results

    def score_plain(self, prompt: str) -> Scored:
        """Reference scoring: the whole prompt, no cache, logits at every position."""
        torch = self.torch
        with torch.inference_mode():
            out = self.model(torch.tensor([self.encode(prompt)], device=self.device))
        return self._decide(out.logits[0, -1])
