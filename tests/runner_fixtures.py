"""A tiny random Llama-style model and tokenizers trained offline in seconds (never downloaded).

Each tokenizer is trained once per test session and shared: callers never change it (they change a copy.deepcopy of it).
The saved model and its loaded form are the session fixtures ``tiny_model_dir`` and ``tiny_model`` (conftest.py).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from xbench.builders.hp_quiz import bundled_quiz
from xbench.builders.mmlu_mixup import load_source

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def training_text() -> list[str]:
    rows = load_source("sample", ("test", "dev"))
    lines = [
        r["question"] + "\n" + "\n".join(f"{label}. {c}" for label, c in zip("ABCD", r["choices"])) + "\nAnswer: " + "ABCD"[r["answer"]]
        for split in rows.values()
        for r in split
    ]
    lines += [r["question"] + " " + " ".join(r["choices"]) for r in bundled_quiz()]
    lines += ["The following are multiple choice questions (with answers) about geography.", "Answer: a b c d 1 2 3 4"] * 5
    return lines


@functools.cache
def byte_level_tokenizer(vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=SPECIALS)
    tok.train_from_iterator(training_text(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")


@functools.cache
def sentencepiece_style_tokenizer(vocab_size: int = 600):
    """Metaspace (``▁``) pre-tokenisation as SentencePiece/Llama tokenizers do, with a BOS token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS)
    tok.train_from_iterator(training_text(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(tokenizer, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger random weights give peaked, distinct option probabilities
        for param in model.parameters():
            param.mul_(8.0) if param.dim() > 1 else None
    return model


def save_tiny_model(folder: Path) -> Path:
    tokenizer = byte_level_tokenizer()
    tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"
    return folder
