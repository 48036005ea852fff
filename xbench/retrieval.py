"""``xbench retrieve hp``: the Harry Potter subset of a WikiText split, by BM25 and by keyword.

Documents are ranked against a query text with BM25 (bm25s: Robertson idf, k1=1.5, b=0.75;
it ranks exactly like ``rank_bm25.BM25Okapi(k1=1.5, b=0.75, epsilon=0)``, whose default
epsilon=0.25 would replace negative idf by a fraction of the mean idf and change the ranking);
the top k are kept. Every document containing one of the quiz's character or spell names as a
whole word or phrase is added, except names that are common words (a data file). The quiz rows
and that file are given by the caller: retrieval knows no dataset family.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import regex

from xbench.errors import InputError

_TOKEN = regex.compile(r"[\p{L}\p{N}]+")
K1, B = 1.5, 0.75


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Selected:
    index: int
    score: float
    rule: str  # bm25, keyword or bm25+keyword
    keywords: tuple[str, ...] = ()


def bm25_scores(corpus: list[list[str]], query: list[str]):
    """BM25 score of every document (numpy array), with bm25s."""
    import bm25s

    retriever = bm25s.BM25(method="robertson", k1=K1, b=B)
    retriever.index(corpus, show_progress=False)
    return retriever.get_scores(query)


def keyword_pattern(names: Iterable[str]) -> regex.Pattern:
    alternatives = sorted({regex.escape(n) for n in names if n.strip()}, key=len, reverse=True)
    if not alternatives:
        raise InputError("no keywords to search for")
    return regex.compile(r"(?<![\p{L}\p{N}])(?:" + "|".join(alternatives) + r")(?![\p{L}\p{N}])")


def select(docs: list[str], query: str, keywords: Iterable[str], top_k: int) -> list[Selected]:
    """The top_k documents by BM25 plus every document with a keyword, by document index."""
    if top_k < 1:
        raise InputError("--top-k: must be at least 1")
    if not docs:
        raise InputError("no documents to rank")
    query_tokens = tokenize(query)
    if not query_tokens:
        raise InputError("the query has no words")
    scores = bm25_scores([tokenize(d) for d in docs], query_tokens)
    ranked = sorted(range(len(docs)), key=lambda i: (-float(scores[i]), i))[:top_k]
    chosen = {i: "bm25" for i in ranked if scores[i] > 0}
    pattern = keyword_pattern(keywords)
    found: dict[int, tuple[str, ...]] = {}
    for index, doc in enumerate(docs):
        hits = tuple(dict.fromkeys(pattern.findall(doc)))
        if hits:
            found[index] = hits
            chosen[index] = "bm25+keyword" if index in chosen else "keyword"
    return [Selected(i, round(float(scores[i]), 6), chosen[i], found.get(i, ())) for i in sorted(chosen)]


def quiz_query_and_keywords(quiz: Sequence[Mapping[str, Any]], common_words: str | Path) -> tuple[str, list[str]]:
    """A query (the quiz rows' entity names, questions and options) and keywords (the entity names).

    ``common_words`` lists, one a line (``#`` comments), entity names that are common words and so
    no keyword (the HP-Quiz's own list: ``Apparition``).
    """
    text = "\n".join(f"{r['entity']} {r['question']} {' '.join(r['choices'])}" for r in quiz)
    lines = Path(common_words).read_text(encoding="utf-8").splitlines()
    common = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    return text, [name for name in dict.fromkeys(r["entity"] for r in quiz) if name not in common]


def write_index(path: str | Path, selected: list[Selected], *, source: str, top_k: int, query: str) -> None:
    data = {
        "source": source,
        "top_k": top_k,
        "query": query,
        "bm25": {"engine": "bm25s", "method": "robertson", "k1": K1, "b": B},
        "documents": [asdict(s) for s in selected],
    }
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
