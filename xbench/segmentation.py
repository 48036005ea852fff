"""Unicode-aware splitting of text into translation units and back.

A cell (a question, an option) can hold several lines and surrounding whitespace that an
engine would drop or mangle. ``split_units`` keeps that whitespace as literals and hands
engines only stripped, single-line units; ``SegmentLayout.join`` puts them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

_LINE_BREAK = regex.compile(r"(\s*\n\s*)")
_EDGE_SPACE = regex.compile(r"^(\s*)(.*?)(\s*)$", regex.DOTALL)
# A sentence ends at ., !, ? (or their CJK forms) followed by whitespace.
_SENTENCE_BREAK = regex.compile(r"(?<=[.!?\u3002\uff01\uff1f])(\s+)")
_SPACE = regex.compile(r"(\s+)")


@dataclass(frozen=True)
class SegmentLayout:
    """``text == literals[0] + units[0] + literals[1] + ... + units[-1] + literals[-1]``."""

    literals: tuple[str, ...]
    units: tuple[str, ...]

    def join(self, translated_units: list[str] | tuple[str, ...]) -> str:
        if len(translated_units) != len(self.units):
            raise ValueError(f"expected {len(self.units)} units, got {len(translated_units)}")
        out = [self.literals[0]]
        for unit, literal in zip(translated_units, self.literals[1:]):
            out.append(unit)
            out.append(literal)
        return "".join(out)


def split_units(text: str, max_chars: int | None = None) -> SegmentLayout:
    """Split ``text`` into stripped one-line units, each at most ``max_chars`` long."""
    literals: list[str] = []
    units: list[str] = []
    pending = ""
    for index, piece in enumerate(_LINE_BREAK.split(text)):
        if index % 2:  # a line break with the whitespace around it
            pending += piece
            continue
        if not piece.strip():
            pending += piece
            continue
        chunks = _split_long(piece, max_chars) if max_chars and len(piece.strip()) > max_chars else [piece]
        for chunk in chunks:
            lead, body, trail = _EDGE_SPACE.match(chunk).groups()
            literals.append(pending + lead)
            units.append(body)
            pending = trail
    literals.append(pending)
    return SegmentLayout(tuple(literals), tuple(units))


def _split_long(text: str, max_chars: int) -> list[str]:
    """Cut an over-long line at sentence boundaries (then spaces, then anywhere).

    Concatenating the returned chunks gives back ``text``; each stripped chunk fits.
    """
    out: list[str] = []
    for sentence in _glue(_SENTENCE_BREAK.split(text)):
        if len(sentence.strip()) <= max_chars:
            out.append(sentence)
            continue
        for word in _glue(_SPACE.split(sentence)):
            while len(word.strip()) > max_chars:
                cut = len(word) - len(word.lstrip()) + max_chars
                out.append(word[:cut])
                word = word[cut:]
            out.append(word)
    return _pack(out, max_chars)


def _glue(parts: list[str]) -> list[str]:
    """Turn ``[a, sep, b, sep, c]`` from a capturing split into ``[a, sep+b, sep+c]``."""
    glued = [parts[0]]
    for sep, part in zip(parts[1::2], parts[2::2]):
        glued.append(sep + part)
    return [g for g in glued if g]


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Greedily merge consecutive pieces while the stripped result fits ``max_chars``."""
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len((chunks[-1] + piece).strip()) <= max_chars:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks


# Units of a mixed-language document (the study's splitting): clauses end at . , ; ! ? followed
# by whitespace; words are separated by runs of non-word characters. Separators are kept.
SENTENCE_SEPARATOR = regex.compile(r"(\s*[\.,;!?]\s+)")
WORD_SEPARATOR = regex.compile(r"(\W+)")


def parse_unit(unit: str) -> tuple[str, int]:
    """``document`` -> (document, 0), ``sentence`` -> (sentence, 0), ``words8`` -> (words, 8)."""
    from xbench.errors import InputError

    if unit in ("document", "sentence"):
        return unit, 0
    if unit.startswith("words") and unit[5:].isdigit():
        k = int(unit[5:])
        if k < 1:
            raise InputError(f"--unit {unit}: k must be at least 1")
        return "words", k
    raise InputError(f"--unit: unknown unit {unit!r}; choose document, sentence or words<k> (e.g. words8)")


def split_document(text: str, unit: str) -> SegmentLayout:
    """Cut a document into translation units; joining the units and separators gives it back."""
    kind, k = parse_unit(unit)
    literals, units = [""], []

    def add_unit(piece: str) -> None:
        units.append(piece)
        literals.append("")

    if kind == "document":
        if text:
            add_unit(text)
        return SegmentLayout(tuple(literals), tuple(units))
    for index, piece in enumerate(SENTENCE_SEPARATOR.split(text)):
        if index % 2 or not piece:
            literals[-1] += piece
        elif kind == "sentence":
            add_unit(piece)
        else:
            # word, separator, word, ..., word: only the first and last word can be empty
            parts = WORD_SEPARATOR.split(piece)
            words = [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]
            if not words[0][0]:
                literals[-1] += words.pop(0)[1]
            words = [pair for pair in words if pair[0]]
            for start in range(0, len(words), k):
                chunk = words[start : start + k]
                add_unit("".join(w + sep for w, sep in chunk[:-1]) + chunk[-1][0])
                literals[-1] += chunk[-1][1]
    return SegmentLayout(tuple(literals), tuple(units))
