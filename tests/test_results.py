"""One result model (kind + settings), one signature function, one samples writer, one settings object, one device resolver."""

import dataclasses
import json

import pytest

import xbench
from xbench.errors import InputError
from xbench.runner.generation import GenerationSample
from xbench.runner.results import EMBED, EVAL, MT, SCORE, Metric, PromptSettings, RunResult, Sample, load_results, write_results, write_samples
from xbench.runner.settings import EvalSettings
from xbench.signature import build_signature, signature, signature_fields

PROMPT = PromptSettings(2, "english", "ABCD", "none", "maxprob", "study")


def _result(kind: str, settings: dict) -> RunResult:
    return RunResult(kind, "m", None, "d", None, "en", "test", settings, 0, 3, {"acc": Metric(0.5, 0.1)}, {}, "sig", git_commit=None, packages={})


def test_signature_shape_fields_version_and_separator():
    assert signature("mmlu", [("cfg", "fr"), ("data", None), ("shots", 0), ("chat", 1)]) == f"xbench:mmlu|cfg:fr|shots:0|chat:1|v:{xbench.__version__}"
    assert signature("embed", [("p", 0.3), ("seed", 1)], version=None) == "xbench:embed|p:0.3|seed:1"
    assert signature("mt", [("bleu", "a|b"), ("chrf", "c|d")], version=None, separator=" ") == "xbench:mt|bleu:a|b chrf:c|d"
    built = build_signature("hp_quiz", "memory,google", 3, "0.1.0")
    assert built == "xbench:hp_quiz|translator:memory,google|seed:3|v:0.1.0"
    assert signature_fields(built) == {"xbench": "hp_quiz", "translator": "memory,google", "seed": "3", "v": "0.1.0"}


def test_an_eval_result_keeps_its_prompt_key_and_gains_a_kind(tmp_path):
    result = _result(EVAL, dataclasses.asdict(PROMPT))
    record = result.to_dict()
    assert list(record)[:9] == ["kind", "model", "model_revision", "dataset", "dataset_revision", "config", "split", "prompt", "seed"]
    assert record["kind"] == "eval" and record["prompt"] == dataclasses.asdict(PROMPT) and "settings" not in record
    write_results(tmp_path, result)
    loaded = load_results(tmp_path / "results.json")
    assert loaded == result and loaded.prompt == PROMPT


def test_other_kinds_write_settings_and_have_no_prompt(tmp_path):
    result = _result(SCORE, {"rouge_tokenizer": "unicode"})
    record = result.to_dict()
    assert record["settings"] == {"rouge_tokenizer": "unicode"} and "prompt" not in record
    write_results(tmp_path, result)
    assert load_results(tmp_path / "results.json") == result
    with pytest.raises(TypeError, match="a score result has no prompt settings"):
        _ = result.prompt


def test_report_rows_of_other_kinds_name_their_settings():
    from xbench.runner.report import row_label

    assert row_label(_result(SCORE, {"rouge_tokenizer": "unicode"})) == "m | d | score rouge_tokenizer:unicode"
    assert row_label(_result(EMBED, {"p": 0.3, "pool": ["en", "fr"], "translator": "pseudo"})) == "m | d | embed p:0.3 pool:en,fr translator:pseudo"
    assert row_label(_result(MT, {"sacrebleu": {"bleu": "nrefs:1|tok:13a"}, "comet_model": None})) == "m | d | mt"
    assert row_label(_result(EVAL, dataclasses.asdict(PROMPT))) == "m | d | shots:2 demos:english ids:ABCD instr:none maxprob study"


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [("mt", "mt"), ("embed|p:0.3|pool:en,fr|words:freedict", "embed"), ("external|rouge:default", "score"), ("maxprob", "eval")],
)
def test_results_from_before_kinds_load_with_their_kind(tmp_path, strategy, kind):
    record = _result(EVAL, dataclasses.asdict(PromptSettings(0, "none", "-", "none", strategy))).to_dict()
    del record["kind"], record["prompt"]["protocol"]  # as xbench wrote them before results had a kind
    (tmp_path / "results.json").write_text(json.dumps(record))
    loaded = load_results(tmp_path / "results.json")
    assert loaded.kind == kind and loaded.settings["strategy"] == strategy
    assert loaded.settings.get("protocol") == ("harness" if kind == EVAL else None)  # runs before protocols were harness runs


def test_one_samples_writer_for_dataclasses_and_records(tmp_path):
    scored = Sample("q1", "s", "h", [0.5, 0.5], [-0.7, -0.7], 0, 0, True)
    logged = dataclasses.replace(scored, id="q2", prompt="Prompt é")
    generated = GenerationSample("g1", "Paris", "Paris", 1.0, 1.0)
    path = write_samples(tmp_path, [scored, logged, generated, {"source": "é", "hypothesis": "e"}])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert "prompt" not in lines[0] and lines[1]["prompt"] == "Prompt é" and lines[2]["rougeL_recall"] == 1.0 and lines[3] == {"source": "é", "hypothesis": "e"}
    assert "é" in path.read_text(encoding="utf-8")  # written as UTF-8, not \\u escapes
    assert write_samples(tmp_path, [], "hypotheses.jsonl").read_text() == ""


def test_eval_settings_are_checked_once_for_run_and_plan():
    assert EvalSettings(shots=2, protocol="study").checked().prompt == PromptSettings(2, "english", "ABCD", "none", "maxprob", "study")
    study_translate = EvalSettings(demos="translate", protocol="study").checked()
    assert study_translate.instruction == "aware2" and study_translate.labels == ("A", "B", "C", "D")
    chat = EvalSettings(protocol="harness", apply_chat_template=True, system_prompt="Be brief.").prompt
    assert chat.chat_template is True and chat.system_prompt == "Be brief." and chat.protocol == "harness"
    for bad, message in [
        ({"limit": 0}, "--limit: must be at least 1"),
        ({"max_new_tokens": 0}, "--max-new-tokens: must be at least 1"),
        ({"demos": "other"}, "--demos: unknown demo source 'other'"),
        ({"shots": -1}, "--shots: must be 0 or more"),
        ({"ids": "xyz"}, "--ids: unknown option ids 'xyz'"),
        ({"demos": "translate", "protocol": "study", "instruction": "aware0"}, "--instruction: the study's translate-then-answer"),
    ]:
        with pytest.raises(InputError, match=message):
            EvalSettings(**bad).checked()


def test_the_device_is_resolved_in_one_place(monkeypatch):
    torch = pytest.importorskip("torch")
    from xbench import device
    from xbench.runner import model
    from xbench.translation.neural import HfMtEngine

    assert model.resolve_device is device.resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.resolve_device("auto") == "cuda" and HfMtEngine("some/model").device == "cuda"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device.launcher_device() == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve_device("auto") == "cpu" and device.launcher_device() is None and HfMtEngine("some/model").device == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert device.resolve_device("cpu") == "cpu"
    with pytest.raises(InputError, match="--device cuda: no CUDA device is available"):
        device.resolve_device("cuda")
