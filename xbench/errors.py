"""The xbench exception types; the CLI turns them into exit codes in one place."""

from __future__ import annotations

import errno

from xbench.redact import scrub


class XbenchError(Exception):
    """Base class for every error xbench raises on purpose; its message never carries a secret."""

    exit_code = 1

    def __init__(self, message: str = "", *args: object):
        super().__init__(scrub(str(message)), *args)


class InputError(XbenchError):
    """Bad input from the user: a file, a row, an option. Exit status 2."""

    exit_code = 2


class EngineError(XbenchError):
    """A translation engine failed permanently (bad key, unsupported language...)."""


class TransientEngineError(EngineError):
    """A failure worth retrying: timeout, HTTP 429, 5xx, a dropped connection."""


class SegmentError(EngineError):
    """A request failed because of what it carried; halving the pack isolates the culprit."""


class PackMismatchError(SegmentError):
    """A packed request came back with a different number of segments."""


class TranslationFailed(XbenchError):
    """Some segments could not be translated by any engine of the chain."""

    def __init__(self, message: str, failed: list[tuple[str, str]]):
        super().__init__(message)
        self.failed = [(text, scrub(error)) for text, error in failed]


def disk_full(err: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT error behind ``err`` (itself, its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None
