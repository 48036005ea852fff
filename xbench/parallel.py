"""Parallel test sets (FLoRes-style folders or JSONL pairs), read by ``xbench mt-eval`` and the build's ``--qa``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xbench.errors import InputError
from xbench.languages import LANGUAGES, get_language
from xbench.sources import iter_jsonl


@dataclass
class ParallelSet:
    """Line i of every language is the same sentence (FLoRes); or explicit pairs for one direction."""

    name: str
    lines: dict[str, list[str]] = field(default_factory=dict)
    pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = field(default_factory=dict)

    def direction(self, source: str, target: str) -> tuple[list[str], list[str]]:
        if (source, target) in self.pairs:
            return self.pairs[(source, target)]
        if source in self.lines and target in self.lines:
            return self.lines[source], self.lines[target]
        raise InputError(f"{self.name}: no {source}->{target} data (languages: {', '.join(sorted(self.lines)) or 'pairs only'})")


def _language_of(stem: str) -> str | None:
    """``fr``, ``fra``, ``fra_Latn`` (FLoRes-200) or ``fr.devtest`` names -> xbench code."""
    head = stem.split(".")[0].split("_")[0].split("-")[0]
    for lang in LANGUAGES.values():
        if head in (lang.code, lang.iso3, lang.code_for("apertium")):
            return lang.code
    return "en" if head == "eng" else None


def read_parallel(path: str | Path) -> ParallelSet:
    """A folder of one file per language, or a JSONL of source/reference pairs."""
    path = Path(path)
    if path.is_file():
        pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for number, record in iter_jsonl(path):
            missing = [k for k in ("source", "reference", "source_lang", "target_lang") if not isinstance(record.get(k), str)]
            if missing:
                raise InputError(f"{path}: line {number}: missing {', '.join(missing)}")
            sources, references = pairs.setdefault((get_language(record["source_lang"]).code, get_language(record["target_lang"]).code), ([], []))
            sources.append(record["source"])
            references.append(record["reference"])
        return ParallelSet(path.name, pairs=pairs)
    if not path.is_dir():
        raise InputError(f"--testset {path} does not exist")
    lines = {}
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        code = _language_of(file.name)
        if code is not None:
            lines[code] = file.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if len(lines) < 2:
        raise InputError(f"--testset {path}: need files for at least two languages (fr.txt, fra_Latn.devtest, ...)")
    counts = {code: len(v) for code, v in lines.items()}
    if len(set(counts.values())) != 1:
        raise InputError(f"--testset {path}: languages have different line counts {counts}")
    return ParallelSet(path.name, lines=lines)
