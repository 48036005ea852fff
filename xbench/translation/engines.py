"""Translation engines: the interface anyone can implement, and the built-in engines.

An engine is any object with a ``name`` and
``translate_batch(texts: list[str], source: str, target: str) -> list[str]``, taking and
returning xbench language codes and one output per input. Optional attributes the
translator reads: ``max_chars`` (characters one request may carry, separators included),
``max_segments`` (segments per request), ``concurrency`` (parallel requests), ``timeout``
(seconds one request may take before it is abandoned and retried). Engines that only look
things up (``memory``) set ``lookup_only = True``; engines whose output must never be stored
in the cache, where another chain could serve it (``pseudo``), set ``cacheable = False``.
Engines that count tokens (local models) set ``max_tokens`` and ``count_tokens(text)``:
requests are then packed by tokens. ``check_pair(source, target)``, where present, is called
before anything is sent and raises InputError for a language pair the engine cannot do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from xbench.errors import EngineError, InputError, PackMismatchError, SegmentError, TransientEngineError
from xbench.languages import get_language
from xbench.redact import register as register_secret

DEFAULT_MAX_CHARS = 5000
PACK_SEPARATOR = "\n"


@runtime_checkable
class Engine(Protocol):
    name: str

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]: ...


def engine_max_chars(engine: Engine) -> int:
    return int(getattr(engine, "max_chars", DEFAULT_MAX_CHARS) or DEFAULT_MAX_CHARS)


def engine_max_segments(engine: Engine) -> int | None:
    return getattr(engine, "max_segments", None)


def engine_concurrency(engine: Engine) -> int:
    return max(1, int(getattr(engine, "concurrency", 4)))


def is_lookup_only(engine: Engine) -> bool:
    return bool(getattr(engine, "lookup_only", False))


def is_cacheable(engine: Engine) -> bool:
    return bool(getattr(engine, "cacheable", True))


DEFAULT_TIMEOUT_S = 120.0  # one request, retries aside


def engine_timeout(engine: Engine, default: float = DEFAULT_TIMEOUT_S) -> float:
    return float(getattr(engine, "timeout", None) or default)


def split_pack(packed: str, expected: int) -> list[str]:
    """Undo the newline packing of ``expected`` one-line segments; raise on a count mismatch."""
    parts = packed.strip("\n").split(PACK_SEPARATOR) if expected else []
    if len(parts) != expected:
        raise PackMismatchError(f"sent {expected} segments, got {len(parts)} back")
    return [part.strip() for part in parts]


class PseudoEngine:
    """Deterministic pseudo-translation ``[fr] text``, for dry runs and layout checks."""

    name = "pseudo"
    max_chars = DEFAULT_MAX_CHARS
    concurrency = 1
    cacheable = False  # placeholder text: never stored where a real chain could serve it

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        return [f"[{target}] {text}" for text in texts]


class MemoryEngine:
    """Lookup-only: answers from the cache or an imported memory, whichever engine made the entry.

    Entries of the engines in ``prefer`` win, in that order (a family passes its human-made
    ones, e.g. curated translations); otherwise the earliest stored entry wins. The translator
    consults the cache on its behalf.
    """

    name = "memory"
    lookup_only = True

    def __init__(self, prefer: tuple[str, ...] = ()):
        self.prefer = prefer


@dataclass(frozen=True)
class DeepTranslatorSpec:
    """How to construct one deep-translator engine: its class and where its keys come from."""

    class_name: str
    max_chars: int = DEFAULT_MAX_CHARS
    env: dict[str, str] = field(default_factory=dict)  # constructor argument -> environment variable
    optional_env: dict[str, str] = field(default_factory=dict)


DEEP_TRANSLATOR_ENGINES: dict[str, DeepTranslatorSpec] = {
    "google": DeepTranslatorSpec("GoogleTranslator"),
    "deepl": DeepTranslatorSpec("DeeplTranslator", env={"api_key": "DEEPL_API_KEY"}),
    "microsoft": DeepTranslatorSpec("MicrosoftTranslator", env={"api_key": "MICROSOFT_TRANSLATOR_KEY"}, optional_env={"region": "MICROSOFT_TRANSLATOR_REGION"}),
    "mymemory": DeepTranslatorSpec("MyMemoryTranslator", max_chars=500),
    "libre": DeepTranslatorSpec("LibreTranslator", env={"api_key": "LIBRE_API_KEY"}, optional_env={"custom_url": "LIBRE_URL"}),
    "yandex": DeepTranslatorSpec("YandexTranslator", env={"api_key": "YANDEX_API_KEY"}),
    "papago": DeepTranslatorSpec("PapagoTranslator", env={"client_id": "PAPAGO_CLIENT_ID", "secret_key": "PAPAGO_SECRET_KEY"}),
    "qcri": DeepTranslatorSpec("QcriTranslator", env={"api_key": "QCRI_API_KEY"}),
    "baidu": DeepTranslatorSpec("BaiduTranslator", env={"appid": "BAIDU_APPID", "appkey": "BAIDU_APPKEY"}),
    "chatgpt": DeepTranslatorSpec("ChatGptTranslator", env={"api_key": "OPENAI_API_KEY"}),
}


REQUEST_TIMEOUT_S = 60.0


class _RequestsWithTimeout:
    """The ``requests`` module as deep-translator sees it, with a default timeout.

    deep-translator calls ``requests.get``/``post`` without one, so a stalled connection would
    block a worker forever; with it, the stall becomes a Timeout, retried like other transient
    failures.
    """

    def __init__(self, module, timeout: float):
        self._module, self.timeout = module, timeout

    def get(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return self._module.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return self._module.post(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._module, name)


def _add_request_timeouts(timeout: float = REQUEST_TIMEOUT_S) -> None:
    import importlib

    import requests

    for name in ("baidu", "deepl", "google", "libre", "microsoft", "mymemory", "papago", "qcri", "yandex", "chatgpt"):
        try:
            module = importlib.import_module(f"deep_translator.{name}")
        except ImportError:
            continue
        if getattr(module, "requests", None) is requests:
            module.requests = _RequestsWithTimeout(requests, timeout)


class DeepTranslatorEngine:
    """Any deep-translator engine; segments are packed one per line into a single request."""

    concurrency = 4

    def __init__(self, name: str, environ: dict[str, str] | None = None):
        self.name = name
        self.spec = DEEP_TRANSLATOR_ENGINES[name]
        self.max_chars = self.spec.max_chars - 1  # deep-translator wants len(text) < its limit
        environ = os.environ if environ is None else environ
        missing = [var for var in self.spec.env.values() if not environ.get(var)]
        if missing:
            raise InputError(f"--translator {name}: set the environment variable(s) {', '.join(missing)}")
        self._kwargs = {arg: environ[var] for arg, var in self.spec.env.items()}
        self._kwargs.update({arg: environ[var] for arg, var in self.spec.optional_env.items() if environ.get(var)})
        register_secret(*(self._kwargs[arg] for arg in self.spec.env))
        _add_request_timeouts()

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        import deep_translator
        from deep_translator import exceptions as dt_errors

        cls = getattr(deep_translator, self.spec.class_name)
        try:
            client = cls(source=get_language(source).code_for(self.name), target=get_language(target).code_for(self.name), **self._kwargs)
            packed = client.translate(PACK_SEPARATOR.join(texts))
        except (dt_errors.AuthorizationException, dt_errors.ApiKeyException):  # their message quotes the key
            keys = ", ".join(self.spec.env.values())
            raise EngineError(f"{self.name}: the API key was refused; check {keys}") from None
        except (dt_errors.TooManyRequests, dt_errors.RequestError, dt_errors.ServerException) as err:
            raise TransientEngineError(f"{self.name}: {type(err).__name__}") from None
        except (dt_errors.LanguageNotSupportedException, dt_errors.InvalidSourceOrTargetLanguage):
            raise EngineError(f"{self.name} does not support {source}->{target}; use another engine for that language") from None
        except (dt_errors.TranslationNotFound, dt_errors.NotValidPayload, dt_errors.NotValidLength) as err:
            raise SegmentError(f"{self.name}: {type(err).__name__}") from None
        except dt_errors.BaseError as err:
            raise EngineError(f"{self.name}: {type(err).__name__}: {str(getattr(err, 'message', ''))[:200]}".rstrip(": ")) from None
        except OSError as err:  # requests' ConnectionError and Timeout derive from OSError
            raise TransientEngineError(f"{self.name}: {type(err).__name__}") from None
        except Exception as err:  # an engine's own error type; its message may quote the request (scrubbed)
            raise EngineError(f"{self.name}: {type(err).__name__}: {str(err)[:200]}") from None
        if not isinstance(packed, str):
            raise PackMismatchError(f"{self.name} returned no text")
        return split_pack(packed, len(texts))


class ApertiumEngine:
    """Local rule-based MT with Debian's apertium: one process per batch, one segment per line."""

    name = "apertium"
    max_chars = 50_000
    concurrency = 2
    timeout = 300.0

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("apertium")
        self._modes: list[str] | None = None

    def mode(self, source: str, target: str) -> str:
        return f"{get_language(source).code_for(self.name)}-{get_language(target).code_for(self.name)}"

    def available_modes(self) -> list[str]:
        """The installed modes, asked of ``apertium -l`` once per engine."""
        if self._modes is not None:
            return self._modes
        if not self.executable:
            return []
        try:
            listing = subprocess.run([self.executable, "-l"], capture_output=True, text=True, check=False, timeout=60)
        except subprocess.TimeoutExpired:
            raise TransientEngineError("apertium -l did not answer within 60s") from None
        self._modes = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
        return self._modes

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        if not self.executable:
            raise EngineError("apertium is not installed: apt-get install apertium apertium-eng-spa")
        mode = self.mode(source, target)
        if mode not in self.available_modes():
            raise EngineError(f"apertium has no {mode} mode installed (apt-get install apertium-{mode})")
        try:
            done = subprocess.run(
                [self.executable, "-u", mode],
                input=PACK_SEPARATOR.join(texts) + "\n",
                capture_output=True,
                text=True,
                check=False,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:  # run() has killed it
            raise TransientEngineError(f"apertium {mode} did not answer within {self.timeout:g}s") from None
        if done.returncode != 0:
            raise EngineError(f"apertium {mode} failed: {done.stderr.strip()[:200]}")
        return split_pack(done.stdout, len(texts))


ENGINE_NAMES = ("pseudo", "memory", "apertium", "freedict", *DEEP_TRANSLATOR_ENGINES)
MODEL_ENGINES = ("hf-mt:<model>", "llm:<model>", "llm-api:<model>", "llm-chat:<model>")  # see translation.neural


def create_engine(name: str, prefer: tuple[str, ...] = ()) -> Engine:
    """Build a built-in engine by name (``--translator`` values)."""
    name = name.strip()
    if name == "pseudo":
        return PseudoEngine()
    if name == "memory":
        return MemoryEngine(prefer)
    if name == "apertium":
        return ApertiumEngine()
    if name == "freedict":
        from xbench.translation.freedict import FreedictEngine

        return FreedictEngine()
    if name in DEEP_TRANSLATOR_ENGINES:
        return DeepTranslatorEngine(name)
    if name.startswith(tuple(spec.split("<")[0] for spec in MODEL_ENGINES)):
        from xbench.translation.neural import create_neural_engine

        return create_neural_engine(name)
    raise InputError(f"--translator: unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES + MODEL_ENGINES)}")


def resolve_engines(spec: str | Engine | list[str | Engine], prefer: tuple[str, ...] = ()) -> list[Engine]:
    """``"memory,google"`` or a list of names and engine objects -> engine objects, left to right.

    ``prefer``: the engines whose cache entries the memory engine takes first.
    """
    items = spec.split(",") if isinstance(spec, str) else ([spec] if not isinstance(spec, list) else spec)
    engines: list[Engine] = []
    for item in items:
        if isinstance(item, str):
            if item.strip():
                engines.append(create_engine(item, prefer))
        elif callable(getattr(item, "translate_batch", None)) and getattr(item, "name", None):
            engines.append(item)
        else:
            raise InputError(f"--translator: {item!r} is not an engine (needs .name and .translate_batch)")
    if not engines:
        raise InputError("--translator: no engine given")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise InputError(f"--translator: engine listed twice in {','.join(names)}")
    return engines
