"""Generation scoring as TOFU does it: greedy answers, ROUGE-1 and ROUGE-L recall against the English answer.

``rouge_score.RougeScorer(['rouge1', 'rougeL'], use_stemmer=True).score(reference, generation)``,
recall. Its default tokenizer keeps only ``[a-z0-9]`` after lower-casing, so answers in other
scripts score 0; ``rouge_tokenizer="unicode"`` splits on Unicode letters and digits instead
(no stemming, since Porter stemming is English-only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from xbench.about import INSTALL_RUN
from xbench.errors import InputError, XbenchError
from xbench.runner.results import Metric, mean_stderr
from xbench.sources import iter_jsonl

ROUGE_TOKENIZERS = ("default", "unicode")
DEFAULT_TEMPLATE = "Question: {question}\nAnswer:"
_WORD = regex.compile(r"[\p{L}\p{N}]+")


class UnicodeTokenizer:
    """Lower-cased runs of Unicode letters and digits: keeps Cyrillic, CJK, Devanagari, ..."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def rouge_scorer(tokenizer: str = "default"):
    try:
        from rouge_score import rouge_scorer as rs
    except ImportError:
        raise XbenchError(f"ROUGE scoring needs rouge-score: {INSTALL_RUN}") from None
    if tokenizer not in ROUGE_TOKENIZERS:
        raise InputError(f"--rouge-tokenizer: unknown tokenizer {tokenizer!r}; choose from {', '.join(ROUGE_TOKENIZERS)}")
    if tokenizer == "unicode":
        return rs.RougeScorer(["rouge1", "rougeL"], use_stemmer=False, tokenizer=UnicodeTokenizer())
    return rs.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


@dataclass
class GenerationSample:
    id: str
    generation: str
    reference: str
    rouge1_recall: float
    rougeL_recall: float
    prompt_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    run_key: str = ""  # as Sample.run_key: xbench eval resumes only samples of the same key


def score_pairs(records: Iterable[dict[str, Any]], tokenizer: str = "default") -> list[GenerationSample]:
    """ROUGE recall of each record's ``generation`` against its ``reference``; other fields kept."""
    scorer = rouge_scorer(tokenizer)
    samples = []
    for index, record in enumerate(records):
        for key in ("generation", "reference"):
            if not isinstance(record.get(key), str):
                raise InputError(f"row {index + 1}: missing string field {key!r}")
        scores = scorer.score(record["reference"], record["generation"])
        extra = {k: v for k, v in record.items() if k not in ("id", "generation", "reference", "prompt_hash")}
        samples.append(
            GenerationSample(
                id=str(record.get("id", f"row/{index}")),
                generation=record["generation"],
                reference=record["reference"],
                rouge1_recall=scores["rouge1"].recall,
                rougeL_recall=scores["rougeL"].recall,
                prompt_hash=record.get("prompt_hash", ""),
                extra=extra,
            )
        )
    return samples


def rouge_metrics(samples: list[GenerationSample]) -> dict[str, Metric]:
    return {
        "rouge1_recall": mean_stderr([s.rouge1_recall for s in samples]),
        "rougeL_recall": mean_stderr([s.rougeL_recall for s in samples]),
    }


def read_generations(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        for number, record in iter_jsonl(path):
            if not all(isinstance(record.get(k), str) for k in ("generation", "reference")):
                raise InputError(f"{path}: line {number}: needs string fields 'generation' and 'reference'")
            records.append(record)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start} of a line: {err.reason}); save it as UTF-8") from None
    if not records:
        raise InputError(f"{path}: no generations")
    return records


def greedy_continuation(model, tokenizer, prompt: str, max_new_tokens: int, device: str, stop: str | None = None, add_special_tokens: bool = True) -> str:
    """The new text of a greedy decoding (never sampled), optionally stopping once ``stop`` appears."""
    import torch

    ids = torch.tensor([tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]], device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stopping = {"stop_strings": [stop], "tokenizer": tokenizer} if stop else {}
    with torch.inference_mode():
        generated = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad, **stopping)
    return tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True)


def generate_greedy(
    model, tokenizer, prompts: list[str], max_new_tokens: int | Callable[[str], int], device: str, add_special_tokens: bool = True
) -> list[str]:
    """Greedy answers, one prompt at a time, stripped; ``max_new_tokens`` may depend on the prompt."""
    budget = max_new_tokens if callable(max_new_tokens) else (lambda _prompt: max_new_tokens)
    return [greedy_continuation(model, tokenizer, prompt, budget(prompt), device, add_special_tokens=add_special_tokens).strip() for prompt in prompts]


def score_generations_file(path: str | Path, out: str | Path, *, rouge_tokenizer: str = "default", model: str = "external"):
    """``xbench score tofu``: results.json and samples.jsonl for generations made elsewhere."""
    from xbench.runner.results import SCORE, RunResult, check_out_folder, dataset_name, write_results, write_samples
    from xbench.signature import signature

    path, out = Path(path), Path(out)
    check_out_folder(out)
    samples = score_pairs(read_generations(path), rouge_tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    write_samples(out, samples)
    file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    # laid out as a 0-shot eval signature, as scored generations have always been signed
    fields = [("cfg", path.stem), ("data", file_hash[:12]), ("shots", 0), ("demos", "none"), ("ids", "-"), ("instr", "none"), ("strategy", "external")]
    result = RunResult(
        kind=SCORE,
        model=model,
        model_revision=None,
        dataset=str(path),
        dataset_revision=None,
        config=path.stem,
        split="-",
        settings={"rouge_tokenizer": rouge_tokenizer},
        seed=0,
        n_samples=len(samples),
        metrics=rouge_metrics(samples),
        per_subject={},
        signature=signature(dataset_name(str(path)), [*fields, ("rouge", rouge_tokenizer)]),
        dataset_hash=file_hash,
    )
    write_results(out, result)
    return result
