"""Scoring a model behind an OpenAI-compatible server (OpenAI, ``vllm serve``, TGI, llama.cpp server).

``first-token`` (as the study scores GPT-3.5/GPT-4, Tb. 8): one token at temperature 0; the
answer counts when the generated text is the option ID. Under the ``study`` protocol it must
equal the ID exactly (``" A"`` is wrong, as in the official code's string comparison); under
``harness`` surrounding whitespace is stripped first.

``maxprob``: the log-probability of each option token after the prompt, softmax over the four.
On ``completions`` the four continuations ``prompt + " A"`` ... are sent in one request with
``echo`` and ``logprobs`` (vLLM, the OpenAI legacy endpoint), and the log-probabilities of the
tokens after the prompt are summed: exactly what the local path reads from the logits. On
``chat`` the first answer token's ``top_logprobs`` (at most 20) are read; an option that is not
among them gets probability 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbench.api_client import DEFAULT_KEY_ENV, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, ApiClient, MalformedReply, ResponseCache, ServerRefused
from xbench.errors import InputError
from xbench.runner.model import LoadedModel
from xbench.runner.scoring import STRATEGIES, Scored

ENDPOINTS = ("completions", "chat")
PROTOCOLS = ("study", "harness")
CHAT_TOP_LOGPROBS = 20
_NO_LOGPROBS_HINT = "use --strategy first-token, or a server that returns them (vllm serve)"


@dataclass(frozen=True)
class ApiOptions:
    base_url: str
    api_key_env: str = DEFAULT_KEY_ENV
    endpoint: str = "completions"  # completions | chat
    protocol: str = "study"  # study | harness: how a first-token answer is compared with the option ID
    concurrency: int = 8
    timeout: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_RETRIES
    backoff: float = 1.0  # seconds before the first retry; doubled each time, with jitter
    cache: str | Path | None = None  # response cache file; default under the user cache dir
    tokenizer: str | None = None  # local tokenizer to count prompt tokens in a dry run


@dataclass(frozen=True)
class PlannedRequest:
    """One request a dry run would send."""

    config: str
    id: str
    endpoint: str
    body: dict[str, Any]
    prompt_tokens: int
    cached: bool


class NoLogprobs(InputError):
    """The server answered without the log-probabilities maxprob needs."""


def open_api_backend(model: str, options: ApiOptions, labels: Sequence[str], strategy: str, *, check: bool = True) -> tuple[LoadedModel, ApiScorer]:
    """The backend's model record and scorer; with ``check``, the server is asked whether it serves ``model``."""
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy: unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if options.endpoint not in ENDPOINTS:
        raise InputError(f"--endpoint: unknown endpoint {options.endpoint!r}; choose from {', '.join(ENDPOINTS)}")
    if options.protocol not in PROTOCOLS:
        raise InputError(f"--protocol: unknown protocol {options.protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if options.concurrency < 1:
        raise InputError("--concurrency: must be at least 1")
    client = ApiClient(
        options.base_url,
        api_key_env=options.api_key_env,
        timeout=options.timeout,
        max_retries=options.max_retries,
        backoff=options.backoff,
        cache=ResponseCache(options.cache),
    )
    if check:
        client.check_model(model)
    scorer = ApiScorer(client, model, labels, strategy, options)
    return LoadedModel(None, None, model, None, f"api:{client.shown_url}/{scorer.endpoint}", ""), scorer


class ApiScorer:
    """Scores prompts with a bounded pool of concurrent requests; same ``Scored`` records as ``McScorer``."""

    def __init__(self, client: ApiClient, model: str, labels: Sequence[str], strategy: str, options: ApiOptions):
        self.client, self.model, self.labels, self.strategy, self.options = client, model, tuple(labels), strategy, options
        self.tokenizer = None

    @property
    def endpoint(self) -> str:
        return "chat/completions" if self.options.endpoint == "chat" else "completions"

    @property
    def _separator(self) -> str:
        """What comes between the prompt and the scored option: nothing (study: the bare letter), a space (harness)."""
        return "" if self.options.protocol == "study" else " "

    def request(self, prompt: str) -> dict[str, Any]:
        """The JSON body sent for one question."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": 1, "temperature": 0}
        if self.options.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            if self.strategy == "maxprob":
                body.update(logprobs=True, top_logprobs=CHAT_TOP_LOGPROBS)
        elif self.strategy == "maxprob":
            body.update(prompt=[f"{prompt}{self._separator}{label}" for label in self.labels], echo=True, logprobs=1)
        else:
            body["prompt"] = prompt
        return body

    def iter_group(self, prompts: Sequence[str]) -> Iterator[Scored]:
        """The runner's one-by-one interface; the group is still sent concurrently."""
        yield from self.score_group(prompts)

    def score_group(self, prompts: Sequence[str]) -> list[Scored]:
        pool = ThreadPoolExecutor(max_workers=min(self.options.concurrency, max(1, len(prompts))))
        try:
            return list(pool.map(self.score_one, prompts))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    score_batch = score_group

    def score_one(self, prompt: str) -> Scored:
        body = self.request(prompt)
        try:
            if self.strategy == "first-token":
                return self.client.post(self.endpoint, body, self._parse_text)
            if self.options.endpoint == "chat":
                return self.client.post(self.endpoint, body, self._parse_top_logprobs)
            return self.client.post(self.endpoint, body, lambda reply: self._parse_echo(reply, prompt))
        except ServerRefused as err:
            if self.strategy == "maxprob" and err.status == 400 and any(w in err.detail.lower() for w in ("logprob", "echo")):
                raise NoLogprobs(f"{self.client.shown_url} cannot return log-probabilities ({err.detail[:120]}); {_NO_LOGPROBS_HINT}") from None
            raise

    def _parse_text(self, reply: dict[str, Any]) -> Scored:
        choice = _first_choice(reply)
        text = choice["message"].get("content") if self.options.endpoint == "chat" else choice.get("text")
        if not isinstance(text, str) and text is not None:
            raise MalformedReply("the answer is not text")
        text = text or ""
        answer = text if self.options.protocol == "study" else text.strip()
        prediction = self.labels.index(answer) if answer in self.labels else -1
        return Scored([], [], prediction, -1, generation=text)

    def _parse_echo(self, reply: dict[str, Any], prompt: str) -> Scored:
        choices = reply.get("choices")
        if not isinstance(choices, list) or len(choices) != len(self.labels):
            raise MalformedReply(f"expected {len(self.labels)} choices")
        logprobs = []
        for label, choice in zip(self.labels, sorted(choices, key=lambda c: c.get("index", 0))):
            detail = choice.get("logprobs")
            if not isinstance(detail, dict) or not detail.get("token_logprobs"):
                raise NoLogprobs(f"{self.client.shown_url} returned no log-probabilities for the prompt (echo); {_NO_LOGPROBS_HINT}")
            offsets, values = detail.get("text_offset"), detail["token_logprobs"]
            if not isinstance(offsets, list) or len(offsets) != len(values):
                raise MalformedReply("text_offset does not match token_logprobs")
            end = len(prompt) + len(self._separator) + len(label)  # the tokens of the option, not the one generated after it
            option = [v for o, v in zip(offsets, values) if len(prompt) <= o < end]
            if not option or any(v is None for v in option):
                raise MalformedReply("no token after the prompt")
            logprobs.append(float(sum(option)))
        return _decide(logprobs)

    def _parse_top_logprobs(self, reply: dict[str, Any]) -> Scored:
        choice = _first_choice(reply)
        content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
        if not content or not isinstance(content[0], dict) or "top_logprobs" not in content[0]:
            raise NoLogprobs(f"{self.client.shown_url} returned no top_logprobs; {_NO_LOGPROBS_HINT}")
        best = dict.fromkeys(self.labels, -math.inf)
        for entry in content[0]["top_logprobs"]:
            token = str(entry["token"]).strip()
            if token in best:
                best[token] = max(best[token], float(entry["logprob"]))
        scored = _decide([best[label] for label in self.labels])
        scored.generation = choice.get("message", {}).get("content")
        return scored

    def plan(self, config: str, ids: Sequence[str], prompts: Sequence[str]) -> list[PlannedRequest]:
        """What a run would send, for ``--dry-run``; nothing is sent."""
        count = _token_counter(self.options.tokenizer)
        planned = []
        for row_id, prompt in zip(ids, prompts):
            body = self.request(prompt)
            texts = body.get("prompt") or [m["content"] for m in body["messages"]]
            tokens = sum(count(t) for t in ([texts] if isinstance(texts, str) else texts))
            planned.append(PlannedRequest(config, row_id, self.endpoint, body, tokens, self.client.cached(self.endpoint, body)))
        return planned


def _first_choice(reply: dict[str, Any]) -> dict[str, Any]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("no choices")
    if "message" in choices[0] and not isinstance(choices[0]["message"], dict):
        raise MalformedReply("message is not an object")
    return choices[0]


def _decide(logprobs: list[float]) -> Scored:
    top = max(logprobs)
    if top == -math.inf:
        return Scored([0.0] * len(logprobs), logprobs, -1, -1)
    weights = [math.exp(v - top) for v in logprobs]
    total = sum(weights)
    probs = [w / total for w in weights]
    return Scored(probs, logprobs, probs.index(max(probs)), -1)


def _token_counter(tokenizer: str | None):
    """Exact counts with a local tokenizer; otherwise about 4 characters per token."""
    if tokenizer is None:
        return lambda text: math.ceil(len(text) / 4)
    from transformers import AutoTokenizer

    try:
        loaded = AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as err:
        raise InputError(f"--tokenizer {tokenizer}: cannot load ({str(err).splitlines()[0][:160]})") from None
    return lambda text: len(loaded(text)["input_ids"])
