"""Tiny random seq2seq translation models with tokenizers trained offline (never downloaded).

``save_tiny_nllb``: an M2M-100 architecture with an NLLB tokenizer (all 202 FLoRes-200
language tokens). ``save_tiny_marian``: a Marian model with a plain BPE tokenizer, a single-pair
OPUS-MT model, or a multi-target one with ``>>fra<<``-style tokens. Their generation configs (and, for NLLB, zero output weights for
the language tokens) keep special tokens out of the output so that every translation is
non-empty text.
"""

from __future__ import annotations

import json
from pathlib import Path

from runner_fixtures import training_text

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
# The size of every tiny encoder-decoder fixture (NLLB/M2M and Marian share it).
TINY_SEQ2SEQ = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 256,
}


def _bpe(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(training_text(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS))
    return tok


def _generation_config(tokenizer, model):
    from transformers import GenerationConfig

    # language tokens stay allowed: NLLB forces the target's as the first token
    specials = [i for t, i in tokenizer.get_vocab().items() if t in SPECIALS or t == "<mask>"]
    keep = {tokenizer.eos_token_id}
    model.generation_config = GenerationConfig(
        decoder_start_token_id=model.config.decoder_start_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        suppress_tokens=sorted(set(specials) - keep),
        min_new_tokens=3,
        max_length=12,
    )


def _scale(model, factor: float = 16.0):
    import torch

    with torch.no_grad():  # larger random weights make outputs depend on the input
        for param in model.parameters():
            param.mul_(factor) if param.dim() > 1 else None


def save_tiny_nllb(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    spec = json.loads(_bpe().to_str())["model"]
    tokenizer = NllbTokenizer(vocab=spec["vocab"], merges=[tuple(m) for m in spec["merges"]], src_lang="eng_Latn")
    torch.manual_seed(seed)
    config = M2M100Config(
        vocab_size=len(tokenizer),
        **TINY_SEQ2SEQ,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    config.tie_word_embeddings = False
    model = M2M100ForConditionalGeneration(config).eval()
    _scale(model)
    _generation_config(tokenizer, model)
    languages = [
        i for t, i in tokenizer.get_vocab().items() if "_" in t and t.split("_")[-1] in ("Latn", "Cyrl", "Arab", "Hans", "Hant", "Beng", "Deva", "Ethi", "Hebr")
    ]
    with torch.no_grad():  # language tokens are only ever forced, never chosen (NLLB does not write them mid-sentence)
        model.lm_head.weight[languages] = 0.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_marian(folder: Path, seed: int = 0, targets: tuple[str, ...] = ()) -> Path:
    """``targets`` (``>>fra<<`` ...): a multi-target OPUS-MT model led by a target token; none: one pair."""
    import torch
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_bpe(), unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if targets:
        tokenizer.add_special_tokens({"additional_special_tokens": list(targets)})
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(tokenizer),
        **TINY_SEQ2SEQ,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        share_encoder_decoder_embeddings=True,
    )
    model = MarianMTModel(config).eval()
    _scale(model)
    _generation_config(tokenizer, model)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
