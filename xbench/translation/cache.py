"""The persistent translation cache (SQLite in WAL mode) in front of every engine.

Entries are keyed by (engine, source language, target language, source text). The same
table is the translation memory: ``lookup_any`` answers from whichever engine made an
entry, earliest stored first, so results are reproducible for a given cache file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from xbench.errors import InputError, XbenchError
from xbench.languages import LANGUAGES
from xbench.sources import iter_jsonl
from xbench.sqlite_store import open_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    id INTEGER PRIMARY KEY,
    engine TEXT NOT NULL,
    source_lang TEXT NOT NULL,
    target_lang TEXT NOT NULL,
    key BLOB NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS translations_key
    ON translations (source_lang, target_lang, key, engine);
"""
_CHUNK = 500  # stays well below SQLite's bound-parameter limit
MEMORY_FIELDS = ("source_lang", "target_lang", "source", "target", "engine")
NEVER_SERVED = ("pseudo",)  # placeholder output a cache from an older xbench may hold


@dataclass(frozen=True)
class Entry:
    source_lang: str
    target_lang: str
    source: str
    target: str
    engine: str


def default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("xbench")) / "translations.sqlite"


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class TranslationCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"--cache {self.path}: cannot create its folder ({err.strerror}; is a parent a file?)") from None
        if self.path.is_dir():
            raise InputError(f"--cache {self.path}: is a folder; give a file path")
        self._db = open_store(self.path, _SCHEMA, "translation cache")
        self._inode = self.path.stat().st_ino

    def _failed(self, err: sqlite3.Error) -> XbenchError:
        if isinstance(err, sqlite3.DatabaseError) and ("malformed" in str(err) or "not a database" in str(err)):
            return InputError(f"{self.path}: the translation cache is corrupt ({err}); move it away and rerun (work is translated again)")
        return XbenchError(f"{self.path}: translation cache failed ({err}); check the disk and rerun")

    def _check_present(self) -> None:
        """Writes to a cache file deleted or replaced under a running build would be lost silently."""
        try:
            inode = self.path.stat().st_ino
        except OSError:
            inode = None
        if inode != self._inode:
            raise XbenchError(f"{self.path}: the translation cache was deleted or replaced while in use; rerun (finished configs are translated again)")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, engine: str, source_lang: str, target_lang: str, texts: Iterable[str]) -> dict[str, str]:
        """Entries made by ``engine`` for ``texts``: {source: target} for the hits."""
        return {text: target for text, (target, _) in self._select(source_lang, target_lang, texts, engine).items()}

    def lookup_any(self, source_lang: str, target_lang: str, texts: Iterable[str], prefer: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
        """Entries by any engine: {source: (target, engine)}.

        Entries of engines in ``prefer`` win in that order; otherwise the earliest stored wins.
        """
        return self._select(source_lang, target_lang, texts, None, prefer)

    def _select(self, source_lang: str, target_lang: str, texts: Iterable[str], engine: str | None, prefer: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
        unique = list(dict.fromkeys(texts))
        found: dict[str, tuple[str, str]] = {}
        engine_clause = "AND engine = ?" if engine is not None else ""
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            by_key = {_key(t): t for t in chunk}
            marks = ",".join("?" * len(by_key))
            params: list[object] = [source_lang, target_lang, *by_key]
            if engine is not None:
                params.append(engine)
            try:
                rows = self._db.execute(
                    f"SELECT key, source, target, engine FROM translations WHERE source_lang = ? AND target_lang = ? "
                    f"AND key IN ({marks}) {engine_clause} ORDER BY id",
                    params,
                ).fetchall()
            except sqlite3.Error as err:
                raise self._failed(err) from None
            best: dict[str, int] = {}
            for key, source, target, made_by in rows:
                if engine is None and made_by in NEVER_SERVED:
                    continue
                text = by_key[key]
                rank = prefer.index(made_by) if made_by in prefer else len(prefer)
                if source == text and rank < best.get(text, len(prefer) + 1):
                    best[text] = rank
                    found[text] = (target, made_by)
        return found

    def store(self, engine: str, source_lang: str, target_lang: str, pairs: Iterable[tuple[str, str]], *, replace: bool = False) -> int:
        """Store (source, target) pairs made by ``engine``; an existing entry is kept unless ``replace``.

        Engine output is never replaced (a cache must not change under a build); shipped
        memories are, so that a corrected curated translation reaches existing caches.
        """
        rows = [(engine, source_lang, target_lang, _key(s), s, t) for s, t in pairs]
        conflict = "ON CONFLICT (source_lang, target_lang, key, engine) DO UPDATE SET target = excluded.target" if replace else "ON CONFLICT DO NOTHING"
        self._check_present()
        try:
            with self._db:
                cursor = self._db.executemany(
                    f"INSERT INTO translations (engine, source_lang, target_lang, key, source, target) VALUES (?, ?, ?, ?, ?, ?) {conflict}",
                    rows,
                )
        except sqlite3.Error as err:
            raise self._failed(err) from None
        return cursor.rowcount

    def entries(self, source_lang: str | None = None, target_lang: str | None = None, engine: str | None = None) -> Iterator[Entry]:
        clauses, params = [], []
        for column, value in (("source_lang", source_lang), ("target_lang", target_lang), ("engine", engine)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT source_lang, target_lang, source, target, engine FROM translations {where} ORDER BY id"
        try:
            for row in self._db.execute(query, params):
                yield Entry(*row)
        except sqlite3.Error as err:
            raise self._failed(err) from None

    def __len__(self) -> int:
        try:
            return self._db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]
        except sqlite3.Error as err:
            raise self._failed(err) from None

    def import_jsonl(self, path: str | Path, engine: str | None = None, *, replace: bool = False) -> int:
        """Import a translation memory (JSONL with MEMORY_FIELDS); returns entries added.

        ``engine`` overrides the file's engine field (for curated memories).
        """
        path = Path(path)
        grouped: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for number, record in iter_jsonl(path):
            missing = [f for f in MEMORY_FIELDS if f not in record and not (f == "engine" and engine)]
            if missing:
                raise InputError(f"{path}: line {number}: missing field(s) {', '.join(missing)}")
            bad = [f for f in MEMORY_FIELDS if f in record and not isinstance(record[f], str)]
            if bad:
                raise InputError(f"{path}: line {number}: field(s) {', '.join(bad)} must be strings")
            blank = [f for f in MEMORY_FIELDS if f in record and not record[f].strip() and not (f == "engine" and engine)]
            if blank:
                raise InputError(f"{path}: line {number}: field(s) {', '.join(blank)} are blank")
            unknown = [record[f] for f in ("source_lang", "target_lang") if record[f] not in LANGUAGES]
            if unknown:
                raise InputError(f"{path}: line {number}: unknown language code(s) {', '.join(map(repr, unknown))}; valid codes: {' '.join(LANGUAGES)}")
            group = (engine or record["engine"], record["source_lang"], record["target_lang"])
            grouped.setdefault(group, []).append((record["source"], record["target"]))
        return sum(self.store(*group, pairs, replace=replace) for group, pairs in grouped.items())

    def export_jsonl(self, path: str | Path, **filters: str | None) -> int:
        """Write the entries to ``path`` (through a temporary file beside it, renamed at the end)."""
        path = Path(path)
        count = 0
        if not path.parent.is_dir():
            raise InputError(f"{path}: folder {path.parent} does not exist")
        if path.is_dir():
            raise InputError(f"{path}: is a folder; give a file path")
        partial = path.with_name(f".{path.name}.partial")
        try:
            with open(partial, "w", encoding="utf-8") as out:
                for entry in self.entries(**filters):
                    out.write(json.dumps(entry.__dict__, ensure_ascii=False) + "\n")
                    count += 1
            partial.replace(path)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise InputError(f"{path}: cannot write ({err.strerror or type(err).__name__})") from None
        return count
