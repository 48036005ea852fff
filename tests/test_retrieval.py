"""BM25 Harry Potter subset: bm25s ranks like rank-bm25 (epsilon=0); keywords; the index file."""

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from xbench.builders.hp_quiz import bundled_quiz, data_path
from xbench.cli import app
from xbench.retrieval import bm25_scores, quiz_query_and_keywords, select, tokenize


def _corpus(seed=0, docs=600, vocab_size=300):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    weights = [1 / (i + 1) for i in range(vocab_size)]  # Zipf-like: frequent terms get negative idf
    corpus = [rng.choices(vocab, weights, k=rng.randint(5, 100)) for _ in range(docs)]
    return corpus, rng.choices(vocab, weights, k=400)


def test_bm25s_ranks_exactly_like_rank_bm25_with_epsilon_zero():
    from rank_bm25 import BM25Okapi

    corpus, query = _corpus()
    ours = bm25_scores(corpus, query)
    reference = BM25Okapi(corpus, k1=1.5, b=0.75, epsilon=0).get_scores(query)
    rank = lambda scores: sorted(range(len(scores)), key=lambda i: (-round(float(scores[i]), 4), i))  # noqa: E731
    assert rank(ours * 2.5) == rank(reference)  # bm25s leaves out rank-bm25's constant (k1 + 1) factor
    assert np.allclose(ours * 2.5, reference, rtol=1e-4, atol=1e-5)
    default_epsilon = BM25Okapi(corpus, k1=1.5, b=0.75).get_scores(query)
    assert rank(default_epsilon) != rank(reference)  # rank-bm25's default epsilon changes the ranking


DOCS = [
    " = Harry Potter and the Philosopher 's Stone = ",
    " Harry Potter is a wizard ; his friend Hermione Granger casts Accio and Expelliarmus . ",
    " The Apparition of a ghost was reported in the village . ",
    " Valkyria Chronicles III is a tactical role @-@ playing game . ",
    " Draco Malfoy and Lucius Malfoy appear at the Quidditch match . ",
    " The Arsenal building in Little Rock . ",
]


def test_select_combines_top_k_and_keywords():
    query, keywords = quiz_query_and_keywords(bundled_quiz(), data_path("common_word_names.txt"))
    assert "Apparition" not in keywords and "Harry Potter" in keywords and "Accio" in keywords
    selected = {s.index: s for s in select(DOCS, query, keywords, top_k=2)}
    # BM25's top 2 are the ghost story (many query words) and the Malfoy document
    assert {i: s.rule for i, s in selected.items()} == {0: "keyword", 1: "keyword", 2: "bm25", 4: "bm25+keyword"}
    assert selected[1].keywords == ("Harry Potter", "Hermione Granger", "Accio", "Expelliarmus")
    assert selected[4].keywords == ("Draco Malfoy", "Lucius Malfoy")
    assert selected[2].keywords == ()  # "Apparition" is listed as a common word


def test_tokenize_is_unicode_aware():
    assert tokenize("Senjō no Valkyria 3 : <unk> Москва") == ["senjō", "no", "valkyria", "3", "unk", "москва"]


def test_cli_writes_an_index_that_builds_a_subset(tmp_path):
    corpus = tmp_path / "wiki.train.txt"
    corpus.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    index = tmp_path / "hp_index.json"
    result = CliRunner().invoke(app, ["retrieve", "hp", "--source", str(corpus), "--top-k", "2", "--out", str(index)])
    assert result.exit_code == 0, result.output
    data = json.loads(index.read_text())
    assert data["bm25"] == {"engine": "bm25s", "method": "robertson", "k1": 1.5, "b": 0.75}
    chosen = [d["index"] for d in data["documents"]]
    assert chosen == [0, 1, 2, 4]
    out = tmp_path / "hp_subset"
    result = CliRunner().invoke(
        app,
        [
            "build",
            "wikitext_mixed",
            "--source",
            str(corpus),
            "--subset",
            str(index),
            "--translator",
            "pseudo",
            "--pool",
            "en,fr",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "c.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    assert [r["source_index"] for r in pq.read_table(out / "sentence" / "train-00000-of-00001.parquet").to_pylist()] == chosen


@pytest.mark.parametrize(
    ("args", "message"), [(["--top-k", "0"], "--top-k: must be at least 1"), (["--query", "/nonexistent.txt"], "--query /nonexistent.txt: cannot read")]
)
def test_bad_input_exits_2(tmp_path, args, message):
    corpus = tmp_path / "wiki.train.txt"
    corpus.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["retrieve", "hp", "--source", str(corpus), "--out", str(tmp_path / "i.json"), *args])
    assert result.exit_code == 2 and message in result.output
