"""Builds under faults: a misbehaving engine, interruptions, kills, rebuilds into used folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import FakeEngine, write_jsonl

import xbench
from xbench.errors import TransientEngineError, XbenchError
from xbench.translation import LanguageStats, TranslationCache, Translator

HANG_GUARD_S = 120  # only a guard against a test hanging for good; no test relies on timing


class FaultyEngine:
    """Translates ``text`` to ``<fr>text`` after the faults scripted for the first requests.

    ``script`` holds one fault per request, in order: ``"transient"`` (TransientEngineError),
    ``"timeout"`` (a built-in TimeoutError, as a custom client raises), ``"hang"`` (blocks
    until released), ``"short"`` (one output too few), ``"empty"`` (an empty string back).
    """

    name = "faulty"
    concurrency = 1

    def __init__(self, script=(), timeout=None, hang_on=(), max_chars=5000, concurrency=1):
        self.script = list(script)
        self.timeout = timeout
        self.hang_on = set(hang_on)
        self.max_chars, self.concurrency = max_chars, concurrency
        self.requests: list[list[str]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def translate_batch(self, texts, source, target):
        with self._lock:
            self.requests.append(list(texts))
            fault = self.script.pop(0) if self.script else None
        if fault == "transient":
            raise TransientEngineError("faulty: HTTP 503")
        if fault == "timeout":
            raise TimeoutError("read timed out")
        if fault == "hang" or self.hang_on & set(texts):
            self.release.wait()
        out = [f"<{target}>{t}" for t in texts]
        if fault == "short":
            return out[:-1]
        if fault == "empty":
            return [""] + out[1:]
        return out


def translator(engine, tmp_path, **kwargs):
    return Translator([engine], TranslationCache(tmp_path / "c.sqlite"), sleep=lambda s: None, **kwargs)


@pytest.mark.parametrize("fault", ["transient", "timeout", "hang", "short", "empty"])
def test_every_fault_ends_in_a_correct_translation(tmp_path, fault):
    engine = FaultyEngine([fault], timeout=1.0)
    stats = LanguageStats("fr")
    outcome = translator(engine, tmp_path).translate(["one", "two"], "en", "fr", stats=stats)
    engine.release.set()
    assert {t: v for t, v in outcome.translations.items()} == {"one": ("<fr>one", "faulty"), "two": ("<fr>two", "faulty")}
    assert not outcome.failed
    assert stats.retries == (1 if fault in ("transient", "timeout", "hang") else 0)
    assert len(engine.requests) >= 2


def test_an_engine_that_always_hangs_fails_after_its_retries(tmp_path):
    engine = FaultyEngine(["hang"] * 10, timeout=0.05)
    stats = LanguageStats("fr")
    outcome = translator(engine, tmp_path, max_retries=2).translate(["one"], "en", "fr", stats=stats)
    engine.release.set()
    assert outcome.failed == {"one": "faulty: no answer within 0.055s (gave up after 2 retries)"}
    assert (stats.requests, stats.retries) == (3, 2)


def test_empty_output_for_a_single_segment_is_a_failure_not_a_translation(tmp_path):
    engine = FaultyEngine(["empty"] * 3)
    outcome = translator(engine, tmp_path).translate(["one"], "en", "fr")
    assert outcome.failed and not outcome.translations


def test_ctrl_c_abandons_a_hung_request_and_keeps_the_cache_consistent(tmp_path):
    # One request per segment, sent in parallel; "two" never answers and its deadline is far away.
    engine = FaultyEngine(hang_on={"two"}, timeout=1000, max_chars=3, concurrency=2)
    cache = TranslationCache(tmp_path / "c.sqlite")

    def interrupt(lang, done, total):
        deadline = time.monotonic() + HANG_GUARD_S
        while len(engine.requests) < 2 and time.monotonic() < deadline:  # "two" is in flight, not merely queued
            time.sleep(0.01)
        raise KeyboardInterrupt

    runner = Translator([engine], cache, progress=interrupt)
    finished = threading.Event()
    caught = []

    def run():
        try:
            runner.translate(["one", "two"], "en", "fr")
        except KeyboardInterrupt:
            caught.append(True)
        finished.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    # Without cancellation the translation would wait out the engine's deadline (1000 s).
    assert finished.wait(HANG_GUARD_S) and caught == [True]
    assert engine.requests == [["one"], ["two"]] or engine.requests == [["two"], ["one"]]
    engine.release.set()
    engine.hang_on = set()
    assert cache.lookup("faulty", "en", "fr", ["one", "two"]) == {}  # interrupted before the group was stored
    assert Translator([engine], cache, sleep=lambda s: None).translate(["one", "two"], "en", "fr").failed == {}
    assert cache.lookup("faulty", "en", "fr", ["one", "two"]) == {"one": "<fr>one", "two": "<fr>two"}


def test_ctrl_c_during_a_build_leaves_no_staging_and_the_old_build(tmp_path, mmlu_source, cache_path):
    out = tmp_path / "out"
    xbench.build("mmlu_mixup", out=out, source=str(mmlu_source), translator=FakeEngine(), cache=cache_path, langs="fr", formats="full")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def stop(name):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        xbench.build("mmlu_mixup", out=out, source=str(mmlu_source), translator=FakeEngine(), cache=cache_path, langs="fr", formats="full", on_config=stop)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "mmlu_src", "out"]


def test_pseudo_output_is_never_served_to_another_chain(tmp_path, mmlu_source, cache_path):
    xbench.build("mmlu_mixup", out=tmp_path / "a", source=str(mmlu_source), translator="pseudo", cache=cache_path, langs="fr", formats="full")
    with TranslationCache(cache_path) as cache:
        assert len(cache) == 0
        cache.store("pseudo", "en", "fr", [("What is 2 + 2?", "[fr] What is 2 + 2?")])  # as an older xbench stored it
        assert cache.lookup_any("en", "fr", ["What is 2 + 2?"]) == {}
    with pytest.raises(xbench.errors.TranslationFailed):
        xbench.build("mmlu_mixup", out=tmp_path / "b", source=str(mmlu_source), translator="memory", cache=cache_path, langs="fr", formats="full")


def test_a_blank_cache_entry_is_a_miss_not_a_blank_option(tmp_path):
    cache = TranslationCache(tmp_path / "c.sqlite")
    cache.store("curated", "en", "fr", [("cat", "  ")])  # as an older `translations import` let in
    outcome = Translator([xbench.translation.create_engine("memory")], cache).translate(["cat"], "en", "fr")
    assert outcome.translations == {} and list(outcome.failed) == ["cat"]


def test_deleting_the_cache_during_a_build_is_an_error(tmp_path, mmlu_source, cache_path):
    class Deleting(FakeEngine):
        def translate_batch(self, texts, source, target):
            cache_path.unlink(missing_ok=True)
            return super().translate_batch(texts, source, target)

    with pytest.raises(XbenchError, match="the translation cache was deleted or replaced while in use"):
        xbench.build("mmlu_mixup", out=tmp_path / "o", source=str(mmlu_source), translator=Deleting(), cache=cache_path, langs="fr", formats="full")
    assert not (tmp_path / "o").exists()


def test_published_quiz_cells_are_matched_by_position(tmp_path, cache_path):
    folder = tmp_path / "quiz"
    english = {"question": "Pick Yes", "A": "Yes", "B": "Yes", "C": "No", "D": "Pick Yes", "GT": "A"}
    french = {"question": "Choisis Oui", "A": "Oui", "B": "Ouais", "C": "Non", "D": "Choisis-Oui", "GT": "A"}
    write_jsonl(folder / "English.jsonl", [english])
    write_jsonl(folder / "French.jsonl", [french])
    xbench.build("hp_quiz", out=tmp_path / "o", source=str(folder), langs="fr", cache=cache_path, translator="memory")
    import pyarrow.parquet as pq

    row = pq.read_table(next((tmp_path / "o" / "fr").glob("*.parquet"))).to_pylist()[0]
    assert row["question"] == "Choisis Oui" and row["choices"] == ["Oui", "Ouais", "Non", "Choisis-Oui"]


def test_build_folders_follow_the_umask_and_the_report_has_no_path(tmp_path, mmlu_source, cache_path):
    old = os.umask(0o022)
    try:
        xbench.build("mmlu_mixup", out=tmp_path / "o", source=str(mmlu_source), translator=FakeEngine(), cache=cache_path, langs="fr", formats="full")
    finally:
        os.umask(old)
    assert (tmp_path / "o").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "o" / "fr_full").stat().st_mode & 0o777 == 0o755
    report = (tmp_path / "o" / "build_report.json").read_text()
    assert str(tmp_path) not in report and '"out"' not in report


def test_tofu_json_lines_named_json_and_typed_columns(tmp_path, cache_path):
    source = tmp_path / "forget01.json"  # the Hub's TOFU files are JSON Lines with a .json name
    source.write_text('{"question": "Who?", "answer": "A."}\n{"question": "Why?", "answer": "B.", "year": 1990}\n')
    xbench.build("tofu", out=tmp_path / "o", source=str(source), langs="fr", translator=FakeEngine(), cache=cache_path)
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "o" / "forget01_fr" / "train-00000-of-00001.parquet").to_pylist()
    assert [r["year"] for r in rows] == [None, 1990]


# --- kill -9 mid-build, then rerun ------------------------------------------------------------

KILLED_BUILD = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from helpers import FakeEngine
import xbench
from xbench import building

mode, out, source, cache = sys.argv[1:5]
if mode == "during-swap":  # die right after the first entry (the report) is swapped in
    real = building._exchange
    def exchange(a, b):
        real(a, b)
        os.kill(os.getpid(), signal.SIGKILL)
    building._exchange = exchange
    on_config = None
else:  # die after the first config is written to staging
    def on_config(name):
        os.kill(os.getpid(), signal.SIGKILL)
xbench.build("mmlu_mixup", out=out, source=source, translator=FakeEngine(), cache=cache, langs="fr,de", formats="full,gt_option", on_config=on_config)
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "build_report.json"}


@pytest.mark.parametrize("mode", ["mid-build", "during-swap"])
def test_kill_9_then_rerun_gives_the_same_bytes_and_no_leftovers(tmp_path, mmlu_source, mode):
    build = {"source": str(mmlu_source), "translator": FakeEngine(), "langs": "fr,de", "formats": "full,gt_option"}
    xbench.build("mmlu_mixup", out=tmp_path / "clean", cache=tmp_path / "clean.sqlite", **build)
    out, cache = tmp_path / "out", tmp_path / "c.sqlite"
    if mode == "during-swap":
        xbench.build("mmlu_mixup", out=out, cache=cache, seed=1, **build)  # an older build to replace
        (out / "runs").mkdir()
    script = KILLED_BUILD.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", script, mode, str(out), str(mmlu_source), str(cache)], timeout=HANG_GUARD_S, capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    if mode == "during-swap":  # the report was swapped in; every config is still there, old or new
        assert {"en", "fr_full", "fr_gt_option", "de_full", "de_gt_option", "README.md", "runs"} <= {p.name for p in out.iterdir()}
    else:
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".xbench-" in p.name]  # the killed build's staging folder
    xbench.build("mmlu_mixup", out=out, cache=cache, **build)
    assert [p.name for p in tmp_path.iterdir() if ".xbench-" in p.name] == []
    assert _files(tmp_path / "clean") == {k: v for k, v in _files(out).items() if not k.startswith("runs")}


def test_a_hung_apertium_process_is_killed_at_its_deadline(tmp_path):
    from xbench.translation import ApertiumEngine

    fake = tmp_path / "apertium"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-l" ]; then echo eng-spa; exit 0; fi\nexec sleep 1000\n')
    fake.chmod(0o755)
    engine = ApertiumEngine(str(fake))
    engine.timeout = 0.3
    with pytest.raises(TransientEngineError, match=r"apertium eng-spa did not answer within 0\.3s"):
        engine.translate_batch(["cat"], "en", "es")


def test_apertium_lists_its_modes_once_per_engine_not_per_batch(tmp_path):
    from xbench.translation import ApertiumEngine

    listings = tmp_path / "listings"
    fake = tmp_path / "apertium"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then echo x >> {listings}; echo eng-spa; exit 0; fi\nexec cat\n')
    fake.chmod(0o755)
    engine = ApertiumEngine(str(fake))
    assert engine.translate_batch(["cat"], "en", "es") == ["cat"] and engine.translate_batch(["dog"], "en", "es") == ["dog"]
    assert listings.read_text() == "x\n"


def test_builds_stage_beside_out_not_in_the_temp_folder(tmp_path, mmlu_source, cache_path, monkeypatch):
    import tempfile

    blocked = tmp_path / "not_a_folder"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))  # a temp folder on another filesystem, or none at all
    xbench.build("mmlu_mixup", out=tmp_path / "o", source=str(mmlu_source), translator=FakeEngine(), cache=cache_path, langs="fr", formats="full")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["README.md", "build_report.json", "en", "fr_full"]


def test_eval_refuses_a_config_name_that_is_a_path(tmp_path, monkeypatch):
    from xbench.errors import InputError
    from xbench.runner import evaluate as ev

    monkeypatch.setattr(ev, "available_configs", lambda dataset: ["en", ".."])
    with pytest.raises(InputError, match=r"config: '\.\.' is not a valid config name"):
        ev.evaluate("no-model", "some/dataset", out=tmp_path / "run", configs=[".."])
    assert not (tmp_path / "run").exists()
