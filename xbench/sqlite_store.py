"""One way to open the SQLite files xbench keeps (translation cache, API response cache)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from xbench.errors import InputError


def open_store(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """A WAL-mode connection shared by threads, with ``schema`` applied; a file that is not a usable store is bad input."""
    try:
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except sqlite3.DatabaseError as err:
        raise InputError(f"{path}: not a usable {what} ({err})") from None
    return db
