"""The translator: cache first, then the engine chain left to right, with packing and retries.

Every unique segment is looked up in the cache for each engine in turn; only misses reach an
engine. Misses are cut into one-line units (see ``xbench.segmentation``), packed into
requests up to the engine's character limit, sent with bounded concurrency, verified
(count in = count out; on a mismatch the pack is halved and resent, down to one unit),
retried with exponential backoff and jitter on transient failures, and stored as whole
segments so that an interrupted build resumes from the cache.

Every request has a deadline (the engine's ``timeout``): the call runs in a daemon thread that
is abandoned when the deadline passes (the request counts as a transient failure) or when the
build is interrupted, so neither a hung engine nor Ctrl-C waits on it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from xbench.errors import EngineError, InputError, PackMismatchError, SegmentError, TransientEngineError, TranslationFailed
from xbench.segmentation import SegmentLayout, split_units
from xbench.translation.cache import TranslationCache
from xbench.translation.engines import (
    Engine,
    engine_concurrency,
    engine_max_chars,
    engine_max_segments,
    engine_timeout,
    is_cacheable,
    is_lookup_only,
)

SEPARATOR_CHARS = 1  # packs are newline-joined
_STORE_EVERY = 2000  # segments per commit to the cache; bounds the work an interruption loses
_DEADLINE_GRACE_S = 5.0  # an engine's own timeout (a subprocess, an HTTP request) fires first
_POLL_S = 0.1


class Cancelled(Exception):
    """The translation was interrupted; workers stop at their next check."""


@dataclass
class LanguageStats:
    """What translating into one target language took; one entry of build_report.json."""

    target: str
    segments: int = 0
    characters: int = 0
    cache_hits: int = 0
    translated: int = 0
    units: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    engines: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["engines"] = dict(sorted(self.engines.items()))
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class Outcome:
    """{segment: (translation, engine)} for the translated; {segment: error} for the failed."""

    translations: dict[str, tuple[str, str]]
    failed: dict[str, str]


def pack_units(
    units: list[str], max_chars: int, max_segments: int | None = None, *, measure: Callable[[str], int] = len, separator: int = SEPARATOR_CHARS
) -> list[list[str]]:
    """Greedy packing of one-line units into requests of at most ``max_chars`` characters.

    With ``measure`` (a token counter) and ``separator=0`` the budget is tokens instead.
    """
    packs: list[list[str]] = []
    size = 0
    for unit in units:
        cost = measure(unit) + (separator if packs and packs[-1] else 0)
        full = max_segments is not None and packs and len(packs[-1]) >= max_segments
        if not packs or size + cost > max_chars or full:
            packs.append([unit])
            size = measure(unit)
        else:
            packs[-1].append(unit)
            size += cost
    return packs


class Translator:
    def __init__(
        self,
        engines: list[Engine],
        cache: TranslationCache,
        *,
        workers: int | None = None,
        max_retries: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        timeout: float | None = None,
    ):
        self.engines = engines
        self.cache = cache
        self.workers = workers
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep if sleep is not None else self._wait
        self.progress = progress
        self.timeout = timeout
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._jitter = random.Random()

    @property
    def signature(self) -> str:
        return ",".join(engine.name for engine in self.engines)

    def translate(
        self,
        texts: Iterable[str],
        source: str,
        target: str,
        *,
        stats: LanguageStats | None = None,
        dry_run: bool = False,
    ) -> Outcome:
        """Translate every unique text; blank texts and ``source == target`` pass through."""
        started = time.perf_counter()
        stats = stats if stats is not None else LanguageStats(target)
        unique = list(dict.fromkeys(texts))
        done: dict[str, tuple[str, str]] = {}
        remaining: list[str] = []
        for text in unique:
            if source == target or not text.strip():
                done[text] = (text, "")
            else:
                remaining.append(text)
        stats.segments += len(remaining)
        stats.characters += sum(len(t) for t in remaining)
        errors: dict[str, str] = {}
        for engine in self.engines:
            if not remaining:
                break
            if is_lookup_only(engine):
                hits = self.cache.lookup_any(source, target, remaining, tuple(getattr(engine, "prefer", ())))
            elif not is_cacheable(engine):
                hits = {}
            else:
                hits = {t: (tr, engine.name) for t, tr in self.cache.lookup(engine.name, source, target, remaining).items()}
            hits = {t: hit for t, hit in hits.items() if hit[0].strip()}  # a blank entry (an old import) is a miss
            stats.cache_hits += len(hits)
            self._count_engines(stats, hits.values())
            done.update(hits)
            misses = [t for t in remaining if t not in hits]
            if is_lookup_only(engine):
                for text in misses:
                    errors[text] = f"{engine.name}: no entry for {source}->{target}"
                remaining = misses
                continue
            if dry_run:
                self._plan(engine, misses, stats)
                remaining = []
                break
            if misses and callable(getattr(engine, "check_pair", None)):
                engine.check_pair(source, target)  # a pair the engine cannot do is bad input, not a failed cell
            translated, failed = self._run_engine(engine, misses, source, target, stats)
            done.update(translated)
            errors.update(failed)
            remaining = [t for t in misses if t in failed]
        failed = {text: errors.get(text, "no engine answered") for text in remaining}
        stats.failures += len(failed)
        stats.seconds += time.perf_counter() - started
        return Outcome(done, failed)

    def translate_or_raise(self, texts: Iterable[str], source: str, target: str, *, allow_untranslated: bool = False, **kwargs) -> Outcome:
        outcome = self.translate(texts, source, target, **kwargs)
        if outcome.failed and not allow_untranslated:
            raise TranslationFailed(describe_failures(outcome.failed, source, target), list(outcome.failed.items()))
        return outcome

    @staticmethod
    def _count_engines(stats: LanguageStats, results: Iterable[tuple[str, str]]) -> None:
        for _, engine in results:
            stats.engines[engine] = stats.engines.get(engine, 0) + 1

    def _plan(self, engine: Engine, segments: list[str], stats: LanguageStats) -> None:
        units = self._unique_units(engine, segments)[1]
        stats.units += len(units)
        stats.requests += len(_pack(engine, units))

    def _unique_units(self, engine: Engine, segments: list[str]) -> tuple[dict[str, SegmentLayout], list[str]]:
        layouts = {text: split_units(text, engine_max_chars(engine)) for text in segments}
        units = list(dict.fromkeys(unit for layout in layouts.values() for unit in layout.units))
        return layouts, units

    def _run_engine(
        self, engine: Engine, segments: list[str], source: str, target: str, stats: LanguageStats
    ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
        translated: dict[str, tuple[str, str]] = {}
        failed: dict[str, str] = {}
        unit_done: dict[str, str] = {}
        unit_failed: dict[str, str] = {}
        layouts, all_units = self._unique_units(engine, segments)
        stats.units += len(all_units)
        pool = ThreadPoolExecutor(max_workers=self.workers or engine_concurrency(engine))
        self._cancel.clear()
        try:
            for start in range(0, len(segments), _STORE_EVERY):
                group = segments[start : start + _STORE_EVERY]
                todo = list(dict.fromkeys(u for text in group for u in layouts[text].units if u not in unit_done and u not in unit_failed))
                packs = _pack(engine, todo)
                for ok, bad in pool.map(lambda pack: self._send(engine, pack, source, target, stats), packs):
                    unit_done.update(ok)
                    unit_failed.update(bad)
                    if self.progress:
                        self.progress(target, len(ok) + len(bad), len(all_units))
                finished: list[tuple[str, str]] = []
                for text in group:
                    layout = layouts[text]
                    broken = [unit_failed[u] for u in layout.units if u in unit_failed]
                    if broken:
                        failed[text] = broken[0]
                        continue
                    result = layout.join([unit_done[u] for u in layout.units])
                    translated[text] = (result, engine.name)
                    finished.append((text, result))
                if is_cacheable(engine):
                    self.cache.store(engine.name, source, target, finished)
                stats.translated += len(finished)
                self._count_engines(stats, ((t, engine.name) for t, _ in finished))
        except BaseException:
            # Ctrl-C or an error: running requests are abandoned at their next check, queued ones dropped.
            self._cancel.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return translated, failed

    def _send(self, engine: Engine, units: list[str], source: str, target: str, stats: LanguageStats) -> tuple[dict[str, str], dict[str, str]]:
        attempt = 0
        while True:
            with self._lock:
                stats.requests += 1
            try:
                output = self._call(engine, units, source, target)
                if not isinstance(output, list) or len(output) != len(units):
                    got = len(output) if isinstance(output, list) else type(output).__name__
                    raise PackMismatchError(f"{engine.name}: sent {len(units)} segments, got {got} back")
                empty = [i for i, out in enumerate(output) if not isinstance(out, str) or not out.strip()]
                if empty:
                    raise PackMismatchError(f"{engine.name}: returned an empty translation")
                return {unit: out.strip() for unit, out in zip(units, output)}, {}
            except SegmentError as err:
                if len(units) == 1:
                    return {}, {units[0]: str(err)}
                middle = len(units) // 2
                left_ok, left_bad = self._send(engine, units[:middle], source, target, stats)
                right_ok, right_bad = self._send(engine, units[middle:], source, target, stats)
                return {**left_ok, **right_ok}, {**left_bad, **right_bad}
            except (TransientEngineError, TimeoutError, ConnectionError) as err:  # the latter two from custom engines
                attempt += 1
                if attempt > self.max_retries:
                    reason = str(err) if isinstance(err, TransientEngineError) else f"{engine.name}: {type(err).__name__}"
                    return {}, {unit: f"{reason} (gave up after {self.max_retries} retries)" for unit in units}
                with self._lock:
                    stats.retries += 1
                    delay = self.backoff * 2 ** (attempt - 1) * (1 + self._jitter.random())
                self.sleep(delay)
            except EngineError as err:
                return {}, {unit: str(err) for unit in units}
            except (Cancelled, InputError):
                raise
            except Exception as err:  # a third-party engine failing in its own way is not retried
                return {}, {unit: f"{engine.name}: {type(err).__name__}: {err}" for unit in units}

    def _call(self, engine: Engine, units: list[str], source: str, target: str) -> object:
        """``engine.translate_batch`` with a deadline; a stuck call is left behind in its daemon thread."""
        deadline = engine_timeout(engine, self.timeout) if self.timeout else engine_timeout(engine)
        deadline += min(_DEADLINE_GRACE_S, deadline / 10)
        box: dict[str, object] = {}

        def run() -> None:
            try:
                box["output"] = engine.translate_batch(list(units), source, target)
            except BaseException as err:  # handed to the waiting worker
                box["error"] = err

        thread = threading.Thread(target=run, name=f"xbench-{engine.name}", daemon=True)
        thread.start()
        give_up = time.monotonic() + deadline
        while thread.is_alive():
            if self._cancel.is_set():
                raise Cancelled()
            left = give_up - time.monotonic()
            if left <= 0:
                raise TransientEngineError(f"{engine.name}: no answer within {deadline:.3g}s")
            thread.join(min(_POLL_S, left))
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box.get("output")

    def _wait(self, seconds: float) -> None:
        if self._cancel.wait(seconds):
            raise Cancelled()


def _pack(engine: Engine, units: list[str]) -> list[list[str]]:
    """Requests for ``units``: by tokens for engines that count them, else by characters."""
    count = getattr(engine, "count_tokens", None)
    if callable(count) and getattr(engine, "max_tokens", None):
        return pack_units(units, int(engine.max_tokens), engine_max_segments(engine), measure=count, separator=0)
    return pack_units(units, engine_max_chars(engine), engine_max_segments(engine))


def describe_failures(failed: dict[str, str], source: str, target: str, shown: int = 3) -> str:
    examples = "; ".join(f"{_preview(text)} ({error})" for text, error in list(failed.items())[:shown])
    more = f" and {len(failed) - shown} more" if len(failed) > shown else ""
    return (
        f"{len(failed)} segment(s) could not be translated {source}->{target}: {examples}{more}. "
        "Retry later (the cache keeps what was done), add an engine to the chain, or pass --allow-untranslated"
    )


def _preview(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 3] + "...")
