"""``xbench embed``: do sentence embeddings move when words switch language, more than under noise?

Embedding = mean of the last layer's hidden states over the tokens (as in LLM2Vec). For each
document, the original English is compared (cosine) with: ``mixed`` (each word translated with
probability p into a random pool language), ``replace`` (each token replaced with probability p
by a random different vocabulary token) and ``dropout`` (each token masked out of attention with
probability p). A two-sample Welch t-test compares ``mixed`` with ``replace``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

from xbench.segmentation import WORD_SEPARATOR

CONDITIONS = ("mixed", "replace", "dropout")
_HAS_LETTER = regex.compile(r"\p{L}")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = (sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5)
    return dot / norm if norm else 0.0


@dataclass
class WelchTest:
    """The outcome of a Welch two-sample t-test of two sets of similarities."""

    statistic: float
    p_value: float
    mean_a: float
    mean_b: float


def compare(a: Sequence[float], b: Sequence[float]) -> WelchTest:
    """Welch's two-sample t-test (scipy) of two sets of similarities."""
    from scipy import stats

    test = stats.ttest_ind(list(a), list(b), equal_var=False)
    return WelchTest(float(test.statistic), float(test.pvalue), sum(a) / len(a), sum(b) / len(b))


def mix_words(text: str, p: float, pool: Sequence[str], rng: random.Random, translate: Callable[[str, str], str | None]) -> str:
    """Each word (letters) switched with probability p into a random non-English pool language."""
    targets = [lang for lang in pool if lang != "en"]
    pieces = WORD_SEPARATOR.split(text)
    for index in range(0, len(pieces), 2):
        word = pieces[index]
        if word and _HAS_LETTER.search(word) and rng.random() < p:
            translated = translate(word, rng.choice(targets))
            if translated:
                pieces[index] = translated
    return "".join(pieces)


def replace_tokens(ids: list[int], p: float, vocab_size: int, rng: random.Random, keep: set[int] = frozenset()) -> list[int]:
    """Each token (except special ones) replaced with probability p by a different random token."""
    out = []
    for token in ids:
        if token not in keep and rng.random() < p:
            other = rng.randrange(vocab_size - 1)
            out.append(other if other < token else other + 1)
        else:
            out.append(token)
    return out


def dropout_mask(length: int, p: float, rng: random.Random) -> list[int]:
    """Attention mask with each position dropped with probability p; never empty."""
    mask = [0 if rng.random() < p else 1 for _ in range(length)]
    if not any(mask):
        mask[rng.randrange(length)] = 1
    return mask


def mean_embedding(model, ids: list[int], mask: list[int] | None = None, device: str = "cpu") -> list[float]:
    """Mean of the last layer's hidden states over the attended tokens."""
    import torch

    input_ids = torch.tensor([ids], device=device)
    attention = torch.tensor([mask if mask is not None else [1] * len(ids)], device=device)
    with torch.inference_mode():
        hidden = model(input_ids, attention_mask=attention, output_hidden_states=True).hidden_states[-1][0].float()
    weights = attention[0].float().unsqueeze(-1)
    return ((hidden * weights).sum(0) / weights.sum()).tolist()


def tsne_plot(differences: dict[str, list[list[float]]], path, seed: int = 0) -> None:
    """2D t-SNE of the difference vectors (condition - original), one colour per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    labels = [c for c, vectors in differences.items() for _ in vectors]
    data = np.array([v for vectors in differences.values() for v in vectors])
    points = TSNE(n_components=2, perplexity=min(30, max(2, len(data) // 4)), random_state=seed, init="pca").fit_transform(data)
    fig, ax = plt.subplots(figsize=(5, 4))
    for condition in differences:
        chosen = [i for i, label in enumerate(labels) if label == condition]
        ax.scatter(points[chosen, 0], points[chosen, 1], s=10, label=condition)
    ax.set_title("t-SNE of embedding differences")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _first_tokens_text(tokenizer, text: str, max_tokens: int) -> str:
    """The prefix of ``text`` covered by its first ``max_tokens`` tokens."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    return text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]]


def run_embedding_probe(
    model,
    tokenizer,
    documents: Sequence[str],
    *,
    p: float,
    pool: Sequence[str],
    translate: Callable[[str, str], str | None],
    seed: int = 0,
    device: str = "cpu",
    max_tokens: int = 256,
) -> dict[str, list[float]]:
    """Per-document cosine similarities under each condition, plus the difference vectors."""
    rng = random.Random(seed)
    specials = set(tokenizer.all_special_ids)
    similarities: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    differences: dict[str, list[list[float]]] = {c: [] for c in CONDITIONS}
    for doc in documents:
        doc = _first_tokens_text(tokenizer, doc, max_tokens)  # cut the text, not the ids: switched words
        ids = tokenizer(doc)["input_ids"]  # tokenize longer, and must cover the same words
        original = mean_embedding(model, ids, device=device)
        mixed_ids = tokenizer(mix_words(doc, p, pool, rng, translate))["input_ids"]
        variants = {
            "mixed": mean_embedding(model, mixed_ids, device=device),
            "replace": mean_embedding(model, replace_tokens(ids, p, len(tokenizer), rng, specials), device=device),
            "dropout": mean_embedding(model, ids, dropout_mask(len(ids), p, rng), device=device),
        }
        for condition, vector in variants.items():
            similarities[condition].append(cosine(original, vector))
            differences[condition].append([a - b for a, b in zip(vector, original)])
    return {"similarities": similarities, "differences": differences}
