"""A client for OpenAI-compatible HTTP servers (OpenAI, vLLM ``vllm serve``, TGI, llama.cpp server).

Requests are JSON bodies POSTed to ``<base-url>/<endpoint>``; answers go through a persistent
response cache (SQLite in WAL mode, like the translation cache) keyed by the endpoint and the
canonical body, so a rerun or a resume sends nothing. 429, 5xx, timeouts, dropped connections
and malformed replies are retried with exponential backoff and jitter. The API key is read
from an environment variable, sent only in the ``Authorization`` header and never stored,
printed or put in an error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from xbench.errors import InputError, XbenchError
from xbench.sqlite_store import open_store

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 5
_RETRIED_STATUS = {408, 409, 429}
_MAX_RETRY_AFTER_S = 60.0
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key BLOB PRIMARY KEY,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    response TEXT NOT NULL
);
"""


class MalformedReply(Exception):
    """A reply that parsed as HTTP 200 but not as what the endpoint promises; retried, never cached."""


class ServerRefused(InputError):
    """The server answered 4xx to a request: a bad option (model, endpoint, logprobs), not a transient failure."""

    def __init__(self, message: str, status: int, detail: str):
        super().__init__(message)
        self.status, self.detail = status, detail


def default_response_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("xbench")) / "responses.sqlite"


def request_key(endpoint: str, body: dict[str, Any]) -> bytes:
    canonical = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


class ResponseCache:
    """(server URL and endpoint, request body) -> the server's JSON reply; the API key is not part of the key."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_response_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_store(self.path, _SCHEMA, "response cache")

    def get(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (request_key(endpoint, body),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, endpoint: str, body: dict[str, Any], response: dict[str, Any]) -> None:
        record = (request_key(endpoint, body), endpoint, json.dumps(body, sort_keys=True, ensure_ascii=False), json.dumps(response, ensure_ascii=False))
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO responses (key, endpoint, body, response) VALUES (?, ?, ?, ?)", record)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()


@dataclass
class ApiStats:
    sent: int = 0  # HTTP requests, retries included
    cached: int = 0  # answered from the response cache
    retries: int = 0


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and results."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class ApiClient:
    """POST JSON to an OpenAI-compatible server with retries and the response cache; thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str = DEFAULT_KEY_ENV,
        environ: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_RETRIES,
        backoff: float = 1.0,
        cache: ResponseCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--base-url: expected http(s)://host[:port]/v1, got {display_url(base_url)!r}")
        if timeout <= 0:
            raise InputError("--timeout: must be more than 0 seconds")
        self.base_url = base_url.rstrip("/")
        self.shown_url = display_url(base_url)
        self.api_key_env = api_key_env
        environ = os.environ if environ is None else environ
        self.__key = environ.get(api_key_env) or None
        self.timeout, self.max_retries, self.backoff, self.sleep = timeout, max_retries, backoff, sleep
        self.cache = cache
        self.stats = ApiStats()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._jitter = random.Random()

    def __repr__(self) -> str:
        return f"ApiClient({self.shown_url!r}, key from ${self.api_key_env}{'' if self.__key else ' (unset)'})"

    def _session(self):
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            if self.__key:
                session.headers["Authorization"] = f"Bearer {self.__key}"
        return session

    def scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _cache_scope(self, endpoint: str) -> str:
        """Replies are cached per server: the same model name at another URL may be another model."""
        return f"{self.shown_url}/{endpoint}"

    def cached(self, endpoint: str, body: dict[str, Any]) -> bool:
        return self.cache is not None and self.cache.get(self._cache_scope(endpoint), body) is not None

    def served_models(self) -> list[str] | None:
        """The ids ``GET /models`` lists; None where the server has no such route. Unreachable: InputError."""
        import requests

        try:
            reply = self._session().get(f"{self.base_url}/models", timeout=self.timeout)
        except requests.RequestException as err:
            raise InputError(f"--base-url {self.shown_url}: no server answers ({type(err).__name__}); start it (vllm serve MODEL) or fix the URL") from None
        if reply.status_code in (401, 403):
            raise InputError(f"{self.shown_url} refused the API key (HTTP {reply.status_code}); set ${self.api_key_env} to a valid key")
        if reply.status_code != 200:
            return None
        try:
            return [str(m["id"]) for m in reply.json()["data"]]
        except (ValueError, KeyError, TypeError):
            return None

    def check_model(self, model: str) -> None:
        served = self.served_models()
        if served is not None and model not in served:
            raise InputError(f"--model {model!r} is not served at {self.shown_url}; it serves: {', '.join(served) or 'nothing'}")

    def post(self, endpoint: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], T]) -> T:
        """The parsed reply to ``body``, from the cache when there; ``parse`` raises MalformedReply to retry."""
        if self.cache is not None:
            hit = self.cache.get(self._cache_scope(endpoint), body)
            if hit is not None:
                with self._lock:
                    self.stats.cached += 1
                return parse(hit)
        reply = self._send(endpoint, body, parse)
        if self.cache is not None:
            self.cache.put(self._cache_scope(endpoint), body, reply[0])
        return reply[1]

    def _send(self, endpoint: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], T]) -> tuple[dict[str, Any], T]:
        import requests

        attempt = 0
        while True:
            with self._lock:
                self.stats.sent += 1
            wait: float | None = None
            try:
                reply = self._session().post(f"{self.base_url}/{endpoint}", json=body, timeout=self.timeout)
                if reply.status_code == 200:
                    data = reply.json()
                    if not isinstance(data, dict):
                        raise MalformedReply("the reply is not a JSON object")
                    return data, parse(data)
                if reply.status_code in _RETRIED_STATUS or reply.status_code >= 500:
                    problem = f"HTTP {reply.status_code}"
                    wait = _retry_after(reply.headers.get("Retry-After"))
                else:
                    raise self._refused(endpoint, body, reply)
            except (requests.Timeout, requests.ConnectionError) as err:
                problem = f"{type(err).__name__} (timeout {self.timeout:g}s)" if isinstance(err, requests.Timeout) else type(err).__name__
            except (ValueError, MalformedReply) as err:  # requests' JSONDecodeError is a ValueError
                problem = f"malformed reply ({self.scrub(str(err))[:120]})"
            attempt += 1
            if attempt > self.max_retries:
                raise XbenchError(
                    f"{self.shown_url}/{endpoint}: {problem} after {self.max_retries} retries; retry later or lower --concurrency (answers so far are cached)"
                )
            with self._lock:
                self.stats.retries += 1
                delay = wait if wait is not None else self.backoff * 2 ** (attempt - 1) * (1 + self._jitter.random())
            self.sleep(delay)

    def _refused(self, endpoint: str, body: dict[str, Any], reply) -> ServerRefused:
        status = reply.status_code
        try:
            error = reply.json().get("error", reply.json())
            detail = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        except (ValueError, AttributeError):
            detail = reply.text
        detail = " ".join(self.scrub(str(detail)).split())[:200]
        if status in (401, 403):
            return ServerRefused(f"{self.shown_url} refused the API key (HTTP {status}); set ${self.api_key_env} to a valid key", status, detail)
        if status == 404:
            return ServerRefused(f"{self.shown_url}/{endpoint}: HTTP 404 ({detail}); check --model and --base-url, and --endpoint", status, detail)
        return ServerRefused(f"{self.shown_url}/{endpoint} rejected the request (HTTP {status}: {detail})", status, detail)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None
