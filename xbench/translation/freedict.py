"""``freedict``: word-by-word translation from Debian's freedict dictionaries, read without a server.

``apt-get install dict-freedict-eng-fra`` (deu, spa, ita, dan, fin, nor, rus, ara, hin) puts
``/usr/share/dictd/freedict-eng-XXX.index`` (headword, offset, length in dictd's base64) and
``.dict.dz`` (dictzip, gzip-compatible) there. An entry is a headword line, then sense lines
(``1. chat, matou`` or ``Hund <masc> [zool.]``); indented lines are notes and examples.

Choosing among senses is a heuristic, documented as such: among the first alternatives of the
senses, the one that occurs in the most senses wins (``König`` for king in English-German),
then the shortest (``Katze`` over ``Tankautomat`` for cat, ``chat`` over ``mégère``), then the
earliest. Single words only; a word the dictionary lacks is reported, never invented; tokens
without letters pass through.
"""

from __future__ import annotations

import gzip
from collections import Counter
from functools import lru_cache
from pathlib import Path

import regex

from xbench.errors import EngineError, SegmentError
from xbench.languages import get_language

DICT_DIR = Path("/usr/share/dictd")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SENSE_NUMBER = regex.compile(r"^\d+\.\s*")
_ANNOTATION = regex.compile(r"\s*(<[^>]*>|\[[^\]]*\]|\{[^}]*\})")
_HAS_LETTER = regex.compile(r"\p{L}")


def _decode(number: str) -> int:
    value = 0
    for char in number:
        value = value * 64 + _B64.index(char)
    return value


class Dictionary:
    def __init__(self, index: Path, data: Path):
        self.entries: dict[str, list[tuple[int, int]]] = {}
        with open(index, encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and not parts[0].startswith("00database"):
                    self.entries.setdefault(parts[0].lower(), []).append((_decode(parts[1]), _decode(parts[2])))
        with gzip.open(data) as handle:
            self.data = handle.read()

    def senses(self, word: str) -> list[list[str]]:
        """The alternatives of every sense of every entry for ``word``, in dictionary order."""
        senses = []
        for offset, length in self.entries.get(word.lower(), []):
            lines = self.data[offset : offset + length].decode("utf-8").split("\n")[1:]
            for line in lines:
                if not line.strip() or line[:1].isspace():
                    continue
                text = _ANNOTATION.sub("", _SENSE_NUMBER.sub("", line)).strip()
                alternatives = [a.strip() for a in text.split(",") if a.strip()]
                if alternatives:
                    senses.append(alternatives)
        return senses

    def translate(self, word: str) -> str | None:
        senses = self.senses(word)
        if not senses:
            return None
        counts = Counter(alternative for sense in senses for alternative in dict.fromkeys(sense))
        firsts = list(dict.fromkeys(sense[0] for sense in senses))
        choice = min(firsts, key=lambda alt: (-counts[alt], len(alt), firsts.index(alt)))
        return choice[:1].upper() + choice[1:] if word[:1].isupper() else choice


@lru_cache(maxsize=16)
def load_dictionary(source: str, target: str, directory: str = str(DICT_DIR)) -> Dictionary:
    name = f"freedict-{source}-{target}"
    index, data = Path(directory) / f"{name}.index", Path(directory) / f"{name}.dict.dz"
    if not index.is_file() or not data.is_file():
        raise EngineError(f"freedict: no {name} dictionary in {directory} (apt-get install dict-{name})")
    return Dictionary(index, data)


class FreedictEngine:
    """Single words only: a longer segment is refused, an unknown word reported."""

    name = "freedict"
    max_chars = 2000
    concurrency = 1

    def __init__(self, directory: str | Path = DICT_DIR):
        self.directory = str(directory)

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        dictionary = load_dictionary(get_language(source).code_for(self.name), get_language(target).code_for(self.name), self.directory)
        out = []
        for text in texts:
            if len(text.split()) != 1:
                raise EngineError(f"freedict translates single words only, got {text!r}; use --unit words1 or another engine")
            if not _HAS_LETTER.search(text):
                out.append(text)
                continue
            translated = dictionary.translate(text)
            if translated is None:
                raise SegmentError(f"freedict: {text!r} is not in the {source}->{target} dictionary")
            out.append(translated)
        return out
