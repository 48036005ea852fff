"""``xbench build``: plan a family's configs, then translate while writing each one into a Hub folder.

Config by config, the source rows stream through in chunks (``xbench.family.MixedBuilder``):
the cells a chunk needs are translated through the cache, one call per language, and the
chunk is written, so memory does not grow with the number of rows or languages. A language's
statistics count each unique segment once per build, whichever configs need it.

Output is built in a staging folder beside the target (same filesystem) and moved into place
at the end, entry by entry: ``build_report.json`` (which lists the configs a build owns)
first, then each config folder, then ``README.md``; an existing entry is swapped atomically
(``renameat2(RENAME_EXCHANGE)`` on Linux). A rebuild replaces only what the earlier build
owns; other files in the folder are never touched. A failed or interrupted build leaves the
target as it was; staging folders of killed builds are removed by the next build.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xbench.build_report import BuildReport
from xbench.built_dataset import CARD_FILE, REPORT_FILE, SHARD_NAME
from xbench.card import render_card
from xbench.choices import parse_choices
from xbench.errors import InputError, XbenchError, disk_full
from xbench.family import Family, Request, Row
from xbench.formats import ConfigSpec, check_config_name, parse_formats, parse_pool
from xbench.languages import DEFAULT_POOL, SOURCE_LANGUAGE, parse_languages
from xbench.quiet import silence_libraries
from xbench.translation import Engine, LanguageStats, Outcome, TranslationCache, Translator, resolve_engines

Progress = Callable[[str, int, int], None]


def build(
    dataset: str,
    *,
    out: str | Path | None = None,
    langs: str | list[str] | None = None,
    formats: str | list[str] | None = None,
    source: str | None = None,
    translator: str | Engine | list[str | Engine] | None = None,
    cache: str | Path | TranslationCache | None = None,
    seed: int = 0,
    mixup_pool: str | tuple[str, ...] | list[str] = DEFAULT_POOL,
    splits: str | list[str] | None = None,
    dry_run: bool = False,
    allow_untranslated: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    on_config: Callable[[str], None] | None = None,
    options: Mapping[str, Any] | Any | None = None,
    qa: str | Path | None = None,
) -> BuildReport:
    """Build ``dataset`` into ``out``; the Python entry point behind ``xbench build``.

    ``translator`` is a chain: engine names (``"memory,google"``) and/or engine objects
    with ``name`` and ``translate_batch(texts, source, target)``. ``options``: the family's own
    flags, as its options dataclass or a mapping (None values are flags not given).
    ``qa``: a parallel sample to score the engine chain on (chrF/BLEU in the card).
    """
    from xbench.builders import family_options, get_family

    started = time.perf_counter()
    family = get_family(dataset)
    family_flags = family_options(family, options)
    request = Request(
        langs=tuple(parse_languages(langs if langs is not None else list(family.default_langs))),
        formats=tuple(parse_formats(formats if formats is not None else list(family.default_formats))),
        pool=parse_pool(mixup_pool),
        source=source,
        options=family_flags,
    )
    split_names = _parse_splits(splits, family)
    if workers is not None and workers < 1:
        raise InputError("--workers: must be at least 1")
    configs = family.plan(family, request)
    names = [check_config_name(spec.name) for spec in configs]
    if len(set(names)) != len(names):
        raise InputError(f"--formats: {dataset} names configs by language only, so these formats collide ({', '.join(names)}); use --formats full")
    target = Path(out) if out is not None else None
    if target is None and not dry_run:
        raise InputError("--out: an output folder is required")
    if target is not None and not dry_run:
        _check_target(target, names, source)

    own_cache = not isinstance(cache, TranslationCache)
    store = cache if isinstance(cache, TranslationCache) else TranslationCache(cache)
    try:
        if family.prepare_cache is not None:
            family.prepare_cache(store, source)
        engines = resolve_engines(translator if translator is not None else family.default_translator, family.memory_prefer)
        translation = Translator(engines, store, workers=workers, progress=progress)
        report = BuildReport(dataset, str(target or ""), {}, {}, translation.signature, seed, dry_run, source=_source_label(source))
        if qa and not dry_run:
            report.quality = estimate_quality(translation, qa, _languages_in_order(configs))
        rows = family.load_source(source, split_names, family_flags, seed)
        empty = [split for split, split_rows in rows.items() if isinstance(split_rows, Sized) and not split_rows]
        if empty:
            raise InputError(f"--source {source or 'default'}: no rows in split {', '.join(empty)}; nothing to build")
        translate = BuildTranslation(translation, report, _languages_in_order(configs), allow_untranslated=allow_untranslated, dry_run=dry_run)
        try:
            if dry_run:
                for spec in configs:
                    report.configs[spec.name] = {
                        split: sum(1 for _ in family.builder.stream(split_rows, spec, seed, family_flags, translate)) for split, split_rows in rows.items()
                    }
            else:
                _write(family, configs, rows, seed, family_flags, translate, report, target, on_config)
        finally:
            translate.seen.close()
    finally:
        if own_cache:
            store.close()
    report.seconds = time.perf_counter() - started
    return report


class SeenSegments:
    """The (language, segment) pairs a build has met: an 8-byte digest each, in a private SQLite table.

    SQLite keeps an unnamed database in a bounded page cache and spills it to a temporary file
    of its own, so memory stays flat however many segments a corpus has.
    """

    _BATCH = 500  # digests per query, well under SQLite's limit on parameters

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (lang TEXT, digest BLOB, PRIMARY KEY (lang, digest)) WITHOUT ROWID")

    def first_seen(self, texts: list[str], lang: str) -> list[bool]:
        """For each (unique) text, whether it is met here for the first time; all are remembered from now on."""
        digests = [hashlib.blake2b(text.encode(), digest_size=8).digest() for text in texts]
        known: set[bytes] = set()
        for start in range(0, len(digests), self._BATCH):
            batch = digests[start : start + self._BATCH]
            query = f"SELECT digest FROM seen WHERE lang = ? AND digest IN ({','.join('?' * len(batch))})"
            known.update(digest for (digest,) in self._db.execute(query, (lang, *batch)))
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", ((lang, digest) for digest in digests))
        return [digest not in known for digest in digests]

    def close(self) -> None:
        self._db.close()


class BuildTranslation:
    """Translates what each config's chunks need; a language's stats count a segment once per build.

    A segment met before (another config, an earlier chunk) is asked again, from the cache,
    under throwaway stats. The report lists every language of the plan, in its order, whether
    or not a chunk needed it.
    """

    def __init__(self, translator: Translator, report: BuildReport, languages: list[str], *, allow_untranslated: bool, dry_run: bool):
        self.translator, self.report = translator, report
        self.allow_untranslated, self.dry_run = allow_untranslated, dry_run
        report.languages.update((lang, LanguageStats(lang)) for lang in languages)
        self.seen = SeenSegments()

    def __call__(self, texts: list[str], lang: str) -> Outcome:
        first = self.seen.first_seen(texts, lang)
        new = [text for text, is_new in zip(texts, first) if is_new]
        again = [text for text, is_new in zip(texts, first) if not is_new]
        outcome = self._translate(new, lang, self.report.languages.setdefault(lang, LanguageStats(lang)))
        if again:
            repeat = self._translate(again, lang, LanguageStats(lang))
            outcome = Outcome({**outcome.translations, **repeat.translations}, {**outcome.failed, **repeat.failed})
        return outcome

    def _translate(self, texts: list[str], lang: str, stats: LanguageStats) -> Outcome:
        if self.dry_run:
            return self.translator.translate(texts, SOURCE_LANGUAGE, lang, stats=stats, dry_run=True)
        return self.translator.translate_or_raise(texts, SOURCE_LANGUAGE, lang, stats=stats, allow_untranslated=self.allow_untranslated)


def estimate_quality(translation: Translator, testset: str | Path, languages: list[str]) -> dict[str, dict]:
    """chrF and BLEU of the build's engine chain on a parallel sample, per language it has (``--qa``)."""
    from xbench.metrics import chrf_bleu
    from xbench.parallel import read_parallel

    sample = read_parallel(testset)
    quality = {}
    for lang in languages:
        try:
            sources, references = sample.direction(SOURCE_LANGUAGE, lang)
        except InputError:
            continue
        outcome = translation.translate_or_raise(sources, SOURCE_LANGUAGE, lang, stats=LanguageStats(lang))
        hypotheses = [outcome.translations[s][0] for s in sources]
        scores = chrf_bleu(hypotheses, references, lang)
        quality[lang] = {
            "n": len(sources),
            **{name: round(value, 2) for name, (value, _) in scores.items()},
            "signature": " ".join(f"{name}:{sig}" for name, (_, sig) in scores.items()),
        }
    if not quality:
        raise InputError(f"--qa {testset}: no en->X data for the languages of this build")
    return quality


def _parse_splits(splits: str | list[str] | None, family: Family) -> tuple[str, ...]:
    if splits is None:
        return family.default_splits or family.splits
    return tuple(parse_choices(splits, family.splits, option="--splits", what="split"))


def _check_target(target: Path, configs: list[str], source: str | None) -> None:
    """Everything about ``--out`` that can be refused before any work is done."""
    if target.name in ("", ".", "..") or target.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise InputError(f"--out {target}: give the build its own folder (e.g. --out build), not the current folder or one above it")
    if target.is_file():
        raise InputError(f"--out: {target} is a file; choose a folder path")
    if not target.parent.exists():
        raise InputError(f"--out: parent folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise InputError(f"--out: {target.parent} is a file, not a folder")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InputError(f"--out: cannot write in {target.parent} (permission denied); choose another path")
    if source is not None and source != "sample" and Path(source).expanduser().exists():
        where = Path(source).expanduser().resolve()
        if where == target.resolve() or target.resolve() in where.parents:
            raise InputError(f"--source {source} is inside --out {target}; move the source out or choose another --out")
    if not target.is_dir():
        return
    owned = owned_configs(target)
    if owned is None:
        raise InputError(f"--out: {target} exists and is not an xbench build folder; choose another path")
    dropped = sorted(set(owned) - set(configs))
    if dropped:
        raise InputError(
            f"--out: {target} holds configs of an earlier build that this one does not write ({', '.join(dropped)}); "
            "build them again in the same command (add their languages/formats), choose another --out, or move them away"
        )
    foreign = [name for name in configs if (target / name).exists() and name not in owned]
    foreign += [str(Path(name) / p.name) for name in owned if (target / name).is_dir() for p in (target / name).iterdir() if not SHARD_NAME.fullmatch(p.name)]
    if foreign:
        raise InputError(f"--out: {target / foreign[0]} exists and was not written by xbench; move it away or choose another --out")


def owned_configs(folder: Path) -> list[str] | None:
    """Configs an earlier build wrote into ``folder`` (from its build_report.json); None if not a build folder."""
    report = folder / REPORT_FILE
    if not report.exists():
        return None if any(folder.iterdir()) else []
    try:
        configs = json.loads(report.read_text(encoding="utf-8")).get("configs", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise InputError(f"--out: {report} is unreadable; move the folder away or choose another --out") from None
    names = []
    for name in configs if isinstance(configs, dict) else ():
        try:
            names.append(check_config_name(name))
        except InputError:
            continue  # a name xbench would not have written: not owned, never removed
    return names


def _languages_in_order(configs: list[ConfigSpec]) -> list[str]:
    return list(dict.fromkeys(lang for spec in configs for lang in spec.languages))


def _write(
    family: Family,
    configs: list[ConfigSpec],
    rows: Mapping[str, Iterable[Row]],
    seed: int,
    options: Any,
    translate: BuildTranslation,
    report: BuildReport,
    target: Path,
    on_config: Callable[[str], None] | None,
) -> None:
    with _staging(target) as (staging, scratch):
        silence_libraries()
        for spec in configs:
            builder = family.builder(cache_dir=str(scratch / "cache"), rows=rows, spec=spec, seed=seed, options=options, translate=translate)
            _prepare(builder, spec, staging, scratch, report)
            if on_config:
                on_config(spec.name)
        _finish(family, configs, report, staging, target)


def _prepare(builder, spec: ConfigSpec, staging: Path, scratch: Path, report: BuildReport) -> None:
    """Run the builder and move its parquet shards to ``staging/<config>/<split>-*.parquet``."""
    from datasets.exceptions import DatasetGenerationError

    prepared = scratch / spec.name
    try:
        builder.download_and_prepare(output_dir=str(prepared), file_format="parquet")
    except DatasetGenerationError as err:  # datasets wraps what a generator raises
        cause = err.__cause__
        while cause is not None and not isinstance(cause, XbenchError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None
    folder = staging / spec.name
    folder.mkdir()
    counts = {}
    for split, info in builder.info.splits.items():
        shards = sorted(prepared.glob(f"*-{split}.parquet")) or sorted(prepared.glob(f"*-{split}-*-of-*.parquet"))
        for number, shard in enumerate(shards):
            shard.rename(folder / f"{split}-{number:05d}-of-{len(shards):05d}.parquet")
        counts[split] = info.num_examples
    report.configs[spec.name] = counts
    untranslated = _count_untranslated(folder)
    if untranslated:
        report.untranslated[spec.name] = untranslated
    shutil.rmtree(prepared, ignore_errors=True)


SCRATCH = ".scratch"


def _staging_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(target.name)}\.xbench-(\d+)-[0-9a-f]+")


@contextmanager
def _staging(target: Path) -> Iterator[tuple[Path, Path]]:
    """A folder beside ``target`` (same filesystem) to build in, with a scratch folder inside; always removed.

    Made with the user's umask. Staging folders left by killed builds (their process is gone)
    are removed first.
    """
    _remove_stale_staging(target)
    staging = target.parent / f".{target.name}.xbench-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
    except OSError as err:
        raise InputError(f"--out: cannot create a folder in {target.parent} ({err.strerror}); choose another path") from None
    try:
        yield staging, staging / SCRATCH
    except BaseException as err:
        full = disk_full(err)
        if full is not None:
            raise XbenchError(
                f"no space left on the device of {target.parent} ({full.strerror}); {target} was left as it was. Free space and rerun (translations are cached)"
            ) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(target: Path) -> None:
    pattern = _staging_pattern(target)
    for entry in target.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir() and not _process_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _finish(family: Family, configs: list[ConfigSpec], report: BuildReport, staging: Path, target: Path) -> None:
    empty = [f"{name}/{split}" for name, splits in report.configs.items() for split, n in splits.items() if n == 0]
    if empty:
        raise InputError(f"--source: no rows for {', '.join(empty)}; nothing to build")
    (staging / CARD_FILE).write_text(render_card(family, configs, report), encoding="utf-8")
    (staging / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(staging / SCRATCH, ignore_errors=True)
    _install(staging, target, [REPORT_FILE, *report.configs, CARD_FILE])


def _count_untranslated(folder: Path) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for shard in folder.glob("*.parquet"):
        if "untranslated" not in pq.read_schema(shard).names:  # a family that translates nothing (fictional_facts)
            continue
        lengths = pc.list_value_length(pq.read_table(shard, columns=["untranslated"])["untranslated"])
        total += int(pc.sum(lengths).as_py() or 0)
    return total


def _install(staging: Path, target: Path, entries: list[str]) -> None:
    """Move the finished build into place; what it replaces ends up in ``staging`` (removed after).

    The report goes first: it lists every config the folder owns from then on, so a build
    killed half-way through still owns (and a rerun replaces) each config it had written.
    """
    if not target.exists():
        staging.rename(target)  # one atomic step
        return
    for name in entries:
        new, current = staging / name, target / name
        if current.exists():
            _exchange(new, current)
        else:
            new.rename(current)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux); elsewhere two renames, with ``b`` absent for an instant."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_cwd = -100
        if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(b))
    parked = a.with_name(a.name + ".old")
    b.rename(parked)
    a.rename(b)
    parked.rename(a)


def _source_label(source: str | None) -> str | None:
    """The source as the report may show it: a Hub id or ``sample`` as given, a local path by its name only.

    The report is pushed with the build, so it must not carry the builder's own folders.
    """
    if source is None:
        return None
    path = Path(source).expanduser()
    return path.name if path.exists() or source.startswith((".", "/", "~")) else str(source)
