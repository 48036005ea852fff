"""WikiText corpus reading and selection: documents of a split, after ``--subset``, ``--sample``, ``--max-docs``.

Shared by the mixed-WikiText build, ``xbench retrieve`` and ``xbench embed``. A source is the
Hub's Salesforce/wikitext (None), a text file, or a folder of WikiText's own split files.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import regex

from xbench.errors import InputError

HUB_SOURCE = "Salesforce/wikitext"
DEFAULT_SOURCE_CONFIG = "wikitext-2-raw-v1"
DOC_UNITS = ("line", "article")
_TOP_HEADING = regex.compile(r"^ = [^=].* = $")


def source_lines(source: str | None, source_config: str, split: str) -> Callable[[], Iterator[str]]:
    """A re-iterable stream of the split's raw lines (without their newline)."""
    if source is None:

        def hub_lines() -> Iterator[str]:
            from xbench.sources import load_hub_dataset

            table = load_hub_dataset(HUB_SOURCE, source_config, split, remedy="pass --source PATH")
            for record in table:
                yield record["text"].removesuffix("\n")

        return hub_lines
    path = Path(source).expanduser()
    files = _split_files(path, split) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"--source {path}: no text files (expected a text file or a folder of wiki.train.raw / .tokens / .txt files)")

    def file_lines() -> Iterator[str]:
        for file in files:
            try:
                with open(file, encoding="utf-8") as handle:
                    for line in handle:
                        yield line.removesuffix("\n")
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(f"{file}: cannot read ({type(err).__name__})") from None

    return file_lines


TEXT_SUFFIXES = (".txt", ".raw", ".tokens")  # WikiText's own files: wiki.train.raw, wiki.valid.tokens
_SPLIT_FILE_NAMES = {"train": ("train",), "validation": ("valid", "validation"), "test": ("test",)}


def _split_files(folder: Path, split: str) -> list[Path]:
    """``wiki.train.txt`` style names pick the split; a folder without split names is one split."""
    texts = sorted(f for f in folder.iterdir() if f.suffix in TEXT_SUFFIXES)
    named = {name: [f for f in texts if any(f".{key}." in f".{f.stem}." or f.stem.endswith(key) for key in keys)] for name, keys in _SPLIT_FILE_NAMES.items()}
    if not any(named.values()):
        return texts
    if not named.get(split):
        raise InputError(f"--source {folder}: no {split} file (expected a name like wiki.{_SPLIT_FILE_NAMES.get(split, (split,))[0]}.txt)")
    return named[split]


def documents(lines: Iterable[str], doc_unit: str) -> Iterator[str]:
    """``line``: every non-empty line; ``article``: lines grouped under each top-level heading."""
    if doc_unit == "line":
        yield from (line for line in lines if line.strip())
        return
    article: list[str] = []
    for line in lines:
        if _TOP_HEADING.match(line):
            if any(part.strip() for part in article):
                yield _trimmed(article)
            article = []
        article.append(line)
    if any(part.strip() for part in article):
        yield _trimmed(article)


def _trimmed(lines: list[str]) -> str:
    """The article's lines joined, without the blank lines around them."""
    start = next(i for i, line in enumerate(lines) if line.strip())
    end = max(i for i, line in enumerate(lines) if line.strip())
    return "\n".join(lines[start : end + 1])


def read_index_file(path: str | Path) -> set[int]:
    """Document indices from ``xbench retrieve`` output or the study's ``{"HP-related-index": [...]}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"--subset {path}: cannot read ({type(err).__name__})") from None
    if isinstance(data, dict) and "HP-related-index" in data:
        indices = data["HP-related-index"]
    elif isinstance(data, dict) and "documents" in data:
        indices = [d["index"] for d in data["documents"]]
    else:
        indices = data
    if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
        raise InputError(f"--subset {path}: expected a list of document indices")
    return set(indices)


def sample_indices(count: int, size: int, seed: int) -> set[int]:
    """``size`` of ``count`` document indices, uniformly, reproducibly (O(size) memory)."""
    if size >= count:
        return set(range(count))
    return set(random.Random(seed).sample(range(count), size))


def selected_documents(
    split: str,
    *,
    source: str | None = None,
    source_config: str = DEFAULT_SOURCE_CONFIG,
    doc_unit: str = "line",
    subset: str | Path | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
    max_docs: int | None = None,
) -> Callable[[], Iterator[tuple[int, str]]]:
    """(source_index, document) of the split after ``subset`` (an index file), ``sample`` (drawn with ``sample_seed``) and ``max_docs``."""
    lines = source_lines(source, source_config, split)
    if doc_unit not in DOC_UNITS:
        raise InputError(f"--doc-unit: unknown document unit {doc_unit!r}; choose line or article")
    keep = read_index_file(subset) if subset else None
    if sample is not None:
        size = int(sample)
        if size < 1:
            raise InputError("--sample: must be at least 1")
        if keep is None:
            keep = sample_indices(sum(1 for _ in documents(lines(), doc_unit)), size, sample_seed)
        else:  # draw from the subset, not from the whole corpus
            members = sorted(keep)
            keep = {members[i] for i in sample_indices(len(members), size, sample_seed)}
    if max_docs is not None and max_docs < 1:
        raise InputError("--max-docs: must be at least 1")

    def stream() -> Iterator[tuple[int, str]]:
        taken = 0
        for index, doc in enumerate(documents(lines(), doc_unit)):
            if keep is not None and index not in keep:
                continue
            if max_docs is not None and taken >= max_docs:
                return
            taken += 1
            yield index, doc

    return stream
