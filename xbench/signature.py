"""One-line signatures, as sacrebleu gives every score: ``xbench:<subject>|key:value|...|v:<version>``.

Builds (the card), evaluation runs, MT and embedding probes and ``xbench score`` all write theirs
here, so every number xbench reports names what produced it in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable

from xbench import __version__


def signature(subject: str, fields: Iterable[tuple[str, object]], *, version: str | None = __version__, separator: str = "|") -> str:
    """``xbench:<subject>`` then ``key:value`` for each field whose value is not None, then ``v:<version>``.

    ``version`` None leaves the version out (the embedding probe's signature never had it);
    ``separator`` goes between fields: MT's fields are sacrebleu signatures, which hold ``|``
    themselves, so they are separated by a space.
    """
    body = separator.join(f"{key}:{value}" for key, value in fields if value is not None)
    tail = f"|v:{version}" if version is not None else ""
    return f"xbench:{subject}|{body}{tail}"


def build_signature(family: str, translator: str, seed: int, version: str) -> str:
    """A build's signature: its family, translator chain, seed and the xbench version that built it."""
    return signature(family, [("translator", translator), ("seed", seed)], version=version)


def signature_fields(text: str) -> dict[str, str]:
    """``{key: value}`` of a ``|``-separated signature (the subject under ``xbench``)."""
    return dict(part.partition(":")[::2] for part in text.split("|"))
