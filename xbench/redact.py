"""The one place secrets are scrubbed: engine keys and the Hub token never reach a message, log or file.

A secret is any value of an environment variable that holds a credential (``HF_TOKEN``, the
engine keys listed by ``xbench engines``, anything named ``*_KEY``/``*_TOKEN``/``*_SECRET``)
and any value registered by code that received a key directly. Each is removed in the forms
an error message can quote it: raw, stripped of whitespace, and as ``repr``/JSON escape it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import warnings

MASK = "***"
_MIN_LENGTH = 6  # shorter values (a region, a flag) would mask ordinary words
_SECRET_NAME = re.compile(r"(^|_)(KEY|APPKEY|TOKEN|SECRET|SECRET_KEY|PASSWORD|CLIENT_ID|APPID)$")
_registered: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(*values: str | None) -> None:
    """Treat ``values`` as secrets from now on (keys passed in code rather than the environment)."""
    with _lock:
        _registered.update(v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_LENGTH)


def secret_values() -> list[str]:
    """Every form of every configured secret, longest first."""
    raw = set(_registered)
    raw.update(value for name, value in os.environ.items() if _SECRET_NAME.search(name.upper()) and len(value.strip()) >= _MIN_LENGTH)
    forms: set[str] = set()
    for value in raw:
        for text in (value, value.strip()):
            forms.update((text, repr(text)[1:-1], json.dumps(text)[1:-1]))
    return sorted((f for f in forms if len(f) >= _MIN_LENGTH), key=len, reverse=True)


def scrub(text: str) -> str:
    for secret in secret_values():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def hub_token(token: str | None = None) -> str | None:
    """The Hub token: given, else ``HF_TOKEN`` or the login file, stripped as huggingface_hub does."""
    if token is None:
        try:
            from huggingface_hub import get_token
        except ImportError:
            token = os.environ.get("HF_TOKEN")
        else:
            token = get_token()
    token = (token or "").strip() or None
    register(token)
    return token


def install() -> None:
    """Scrub every log record and warning of this process (the CLI calls this once)."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's to report, unchanged
            return record
        record.msg, record.args = scrub(message), None
        return record

    logging.setLogRecordFactory(scrubbed_record)
    plain = warnings.formatwarning
    warnings.formatwarning = lambda *args, **kwargs: scrub(plain(*args, **kwargs))
