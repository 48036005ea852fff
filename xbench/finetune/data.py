"""Training examples from a built dataset: packed text blocks, or TOFU-style question/answer pairs.

Text (a ``text`` column, e.g. any ``wikitext_mixed`` build): every document is tokenized, followed
by EOS, and the stream is cut into ``max_length`` blocks; a document longer than what is left of a
block continues in the next one. Each block carries position ids that restart at 0 where a
document (or its continuation) starts; transformers turns restarting position ids into a
block-diagonal causal mask (sdpa and eager on CPU, flash-attention on GPU), so no token attends
to another document. The first token of each piece gets label -100: nothing in its own document
precedes it. The last block is padded (label -100) so every token is trained on exactly once.

QA (``question``/``answer`` columns, e.g. a ``tofu`` build): locuslab/tofu data_module.py
``convert_raw_data_to_model_format``: text = start + question + end + answer_tag + answer, EOS
appended when it fits; labels -100 on the first len(tokenize(start + question + end)) tokens
(so the answer tag, "Answer: ", is trained on, as in TOFU) and on padding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xbench.built_dataset import REPORT_FILE
from xbench.errors import InputError, XbenchError
from xbench.finetune.config import CHAT_TEMPLATE, QA_TEMPLATES

IGNORE = -100
TEXT_KIND, QA_KIND = "text", "qa"


@dataclass
class Corpus:
    """The rows of one config of a build and where they came from."""

    folder: str
    config: str
    split: str
    kind: str  # text or qa
    column: str
    rows: list[dict[str, Any]]
    build: dict[str, Any]  # the build's build_report.json, or {} for data from elsewhere


def parse_data(data: str) -> tuple[str, str | None]:
    """``FOLDER`` or ``FOLDER:CONFIG``."""
    folder, sep, config = data.rpartition(":")
    if sep and folder and Path(folder).expanduser().is_dir():
        return str(Path(folder).expanduser()), config or None
    return str(Path(data).expanduser()), None


def read_corpus(data: str, *, split: str = "train", text_column: str | None = None) -> Corpus:
    """The training rows of a build, read from its own files (a rebuilt folder is never served from a cache)."""
    from xbench.built_dataset import available_configs, read_rows

    folder, config = parse_data(data)
    if not Path(folder).is_dir():
        raise InputError(f"--data: {folder} is not a folder (expected an xbench build, FOLDER[:CONFIG])")
    try:
        configs = available_configs(folder)
    except XbenchError as err:
        raise InputError(f"--data {folder}: not a dataset folder ({err})") from None
    if config is None:
        if len(configs) != 1:
            raise InputError(f"--data {folder}: {len(configs)} configs ({', '.join(configs)}); choose one with {folder}:CONFIG")
        config = configs[0]
    elif config not in configs:
        raise InputError(f"--data {folder}: unknown config {config!r}; choose from {', '.join(configs)}")
    table = read_rows(folder, config, split)
    columns = list(table[0]) if table else []
    if text_column is not None:
        if text_column not in columns:
            raise InputError(f"--text-column: {folder}:{config} has no column {text_column!r} (columns: {', '.join(columns)})")
        kind, column = TEXT_KIND, text_column
    elif "text" in columns:
        kind, column = TEXT_KIND, "text"
    elif "question" in columns and "answer" in columns:
        kind, column = QA_KIND, "question"
    else:
        raise InputError(f"--data {folder}:{config}: no 'text' column and no 'question'/'answer' columns (columns: {', '.join(columns)}); pass --text-column")
    wanted = (column,) if kind == TEXT_KIND else ("question", "answer")
    rows = [{c: row[c] for c in wanted} for row in table]
    for number, row in enumerate(rows, 1):
        if not all(isinstance(row[c], str) for c in wanted):
            raise InputError(f"--data {folder}:{config}: row {number}: {' and '.join(wanted)} must be strings")
    if not rows:
        raise InputError(f"--data {folder}:{config}: the {split} split has no rows")
    report = Path(folder) / REPORT_FILE
    build = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    return Corpus(folder, config, split, kind, column, rows, build)


# --- text: packing ---------------------------------------------------------------------------


@dataclass
class PackedBlocks:
    """Equal-length blocks: ``input_ids``, ``labels``, ``position_ids`` (n_blocks x max_length)."""

    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    tokens: int  # real (non-padding) tokens


def pack_token_lists(documents: list[list[int]], max_length: int, eos_id: int, pad_id: int) -> PackedBlocks:
    """Documents (token ids, EOS added here) packed into blocks; see the module docstring."""
    pieces = [np.asarray(list(doc) + [eos_id], dtype=np.int64) for doc in documents if doc]
    if not pieces:
        raise InputError("--data: every document is empty")
    flat = np.concatenate(pieces)
    starts = np.zeros(len(flat), dtype=bool)
    starts[np.cumsum([0] + [len(p) for p in pieces[:-1]])] = True
    real = len(flat)
    padded = -(-real // max_length) * max_length
    if padded > real:
        flat = np.concatenate([flat, np.full(padded - real, pad_id, dtype=np.int64)])
        starts = np.concatenate([starts, np.zeros(padded - real, dtype=bool)])
        starts[real] = True  # the padding is a piece of its own
    index = np.arange(padded)
    starts |= index % max_length == 0
    last_start = np.maximum.accumulate(np.where(starts, index, 0))
    positions = index - last_start
    labels = flat.copy()
    labels[starts] = IGNORE
    labels[real:] = IGNORE
    shape = (padded // max_length, max_length)
    return PackedBlocks(flat.reshape(shape), labels.reshape(shape), positions.reshape(shape), real)


def tokenize_documents(tokenizer, texts: list[str], batch: int = 1000) -> list[list[int]]:
    """Token ids per document, with the tokenizer's own special tokens (BOS where it adds one)."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), batch):
        ids += tokenizer(texts[start : start + batch], add_special_tokens=True)["input_ids"]
    return ids


# --- QA: TOFU templates ----------------------------------------------------------------------


@dataclass
class QaExample:
    input_ids: list[int]
    labels: list[int]


def encode_qa(tokenizer, question: str, answer: str, template: str, max_length: int) -> QaExample:
    """One question/answer pair with labels on the answer side only (module docstring)."""
    if template == CHAT_TEMPLATE:
        return _encode_chat(tokenizer, question, answer, max_length)
    start, end, answer_tag = QA_TEMPLATES[template]
    prompt = start + question + end
    n_prompt = len(tokenizer.tokenize(prompt, add_special_tokens=True))
    ids = tokenizer(prompt + answer_tag + answer, add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    if len(ids) < max_length:
        ids = ids + [tokenizer.eos_token_id]
    labels = [IGNORE] * min(n_prompt, len(ids)) + ids[n_prompt:]
    return QaExample(ids, labels)


def _encode_chat(tokenizer, question: str, answer: str, max_length: int) -> QaExample:
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("--qa-template chat: the model's tokenizer has no chat template; use question-answer or llama2-chat")
    user = [{"role": "user", "content": question}]
    prompt = _chat_ids(tokenizer, user, add_generation_prompt=True)
    full = _chat_ids(tokenizer, user + [{"role": "assistant", "content": answer}], add_generation_prompt=False)
    if full[: len(prompt)] != prompt:
        raise XbenchError("--qa-template chat: the chat template renders the question differently with and without the answer; use question-answer")
    full = full[:max_length]
    return QaExample(full, [IGNORE] * min(len(prompt), len(full)) + full[len(prompt) :])


def _chat_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def pad_qa_batch(examples: list[QaExample], pad_id: int) -> dict[str, Any]:
    """Right padding to the longest example: pad id, label -100, attention mask 0."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in examples]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in examples]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


# --- torch datasets --------------------------------------------------------------------------


class BlockDataset:
    """Packed blocks as a map-style dataset for the Trainer (no attention mask: see the module docstring)."""

    def __init__(self, blocks: PackedBlocks):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": self.blocks.input_ids[index],
            "labels": self.blocks.labels[index],
            "position_ids": self.blocks.position_ids[index],
        }


def collate_blocks(items: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    return {key: torch.from_numpy(np.stack([item[key] for item in items])) for key in ("input_ids", "labels", "position_ids")}


class QaDataset:
    def __init__(self, examples: list[QaExample]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> QaExample:
        return self.examples[index]


@dataclass
class TrainingData:
    dataset: Any
    collate: Any
    examples: int
    tokens: int  # real tokens in one pass over the data
    kind: str


def training_data(corpus: Corpus, tokenizer, *, max_length: int, qa_template: str) -> TrainingData:
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if tokenizer.eos_token_id is None:
        raise InputError("--model: the tokenizer has no EOS token, which separates documents and ends answers")
    if corpus.kind == TEXT_KIND:
        blocks = pack_token_lists(tokenize_documents(tokenizer, [row[corpus.column] for row in corpus.rows]), max_length, tokenizer.eos_token_id, pad_id)
        return TrainingData(BlockDataset(blocks), collate_blocks, len(blocks.input_ids), blocks.tokens, TEXT_KIND)
    examples = [encode_qa(tokenizer, row["question"], row["answer"], qa_template, max_length) for row in corpus.rows]
    return TrainingData(QaDataset(examples), lambda batch: pad_qa_batch(batch, pad_id), len(examples), sum(len(e.input_ids) for e in examples), QA_KIND)
