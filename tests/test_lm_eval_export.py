"""lm-evaluation-harness export: exact task YAMLs, and lm-eval agreeing with xbench eval per sample."""

import hashlib
import json

import pytest
import yaml

import xbench
from xbench.runner.export import export_lm_eval


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm_eval") / "mmlu"
    xbench.build("mmlu_mixup", out=out, source="sample", translator="pseudo", langs="fr", formats="gt_option", cache=out.parent / "c.sqlite")
    return out


def test_tasks_per_config_and_subject_with_xbench_prompts(sample_build, tmp_path):
    files = export_lm_eval(str(sample_build), tmp_path / "tasks", instruction="aware1")
    assert sorted(f.name for f in files) == ["xbench_mmlu_en.yaml", "xbench_mmlu_fr_gt_option.yaml"]
    group = yaml.safe_load((tmp_path / "tasks" / "xbench_mmlu_fr_gt_option.yaml").read_text())
    assert group["group"] == "xbench_mmlu_fr_gt_option"
    assert group["aggregate_metric_list"] == [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}]
    assert [t["task"] for t in group["task"]] == [
        "xbench_mmlu_fr_gt_option_high_school_geography",
        "xbench_mmlu_fr_gt_option_world_religions",
        "xbench_mmlu_fr_gt_option_college_medicine",
        "xbench_mmlu_fr_gt_option_elementary_mathematics",
    ]
    task = group["task"][1]
    assert task["dataset_path"] == str(sample_build.resolve()) and task["dataset_name"] == "fr_gt_option"
    assert task["dataset_kwargs"] == {"filters": [["subject", "==", "world_religions"]]}
    assert task["description"] == (
        "The following are multiple choice questions (with answers) about world religions. "
        "Remember that the question and options can be in different languages.\n\n"
    )
    assert task["doc_to_text"] == "{{question}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
    assert task["doc_to_choice"] == ["A", "B", "C", "D"] and task["target_delimiter"] == " "
    assert task["fewshot_split"] == "dev" and task["fewshot_config"] == {"sampler": "first_n"} and task["fewshot_delimiter"] == "\n\n"


def test_study_tasks_use_the_study_header_and_the_bare_letter(sample_build, tmp_path):
    export_lm_eval(str(sample_build), tmp_path / "tasks", configs=["fr_gt_option"], protocol="study")
    task = yaml.safe_load((tmp_path / "tasks" / "xbench_mmlu_fr_gt_option.yaml").read_text())["task"][1]
    assert task["description"] == "The following are multiple choice questions (with answers) about  world religions.\n\n"
    assert task["doc_to_text"] == "{{question}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
    assert task["target_delimiter"] == "" and task["doc_to_choice"] == ["A", "B", "C", "D"]
    assert task["fewshot_config"] == {"sampler": "first_n", "target_delimiter": " "}  # demos keep "Answer: X"


def test_study_continuation_follows_the_tokenizer():
    pytest.importorskip("transformers")
    from runner_fixtures import byte_level_tokenizer, sentencepiece_style_tokenizer

    from xbench.runner.export import study_delimiter

    assert study_delimiter(byte_level_tokenizer(), ("A", "B", "C", "D")) == ""
    assert study_delimiter(sentencepiece_style_tokenizer(), ("A", "B", "C", "D")) == " "


def test_study_export_of_hp_quiz_and_unknown_protocol_exit_2(tmp_path):
    from typer.testing import CliRunner

    from xbench.cli import app

    out = tmp_path / "hp"
    xbench.build("hp_quiz", out=out, cache=tmp_path / "c.sqlite", langs="fr")
    result = CliRunner().invoke(app, ["export", "lm-eval", str(out), "--out", str(tmp_path / "tasks"), "--protocol", "study"])
    assert result.exit_code == 2 and "--protocol study: en is not MMLU-style" in " ".join(result.output.split())
    assert not (tmp_path / "tasks").exists()
    result = CliRunner().invoke(app, ["export", "lm-eval", str(out), "--out", str(tmp_path / "tasks"), "--protocol", "lm-eval"])
    assert result.exit_code == 2 and "--protocol: unknown protocol 'lm-eval'" in " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["harness", "study"])
def test_lm_eval_on_exported_tasks_agrees_with_xbench_eval(tiny_model_dir, sample_build, tmp_path, protocol):
    pytest.importorskip("torch")
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from xbench.runner.evaluate import evaluate

    export_lm_eval(str(sample_build), tmp_path / "tasks", configs=["fr_gt_option"], protocol=protocol)
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        tasks=["xbench_mmlu_fr_gt_option"],
        num_fewshot=3,
        batch_size=4,
        log_samples=True,
        task_manager=TaskManager(include_path=str(tmp_path / "tasks")),
        device="cpu",
    )
    evaluate(str(tiny_model_dir), str(sample_build), out=tmp_path / "run", configs=["fr_gt_option"], shots=3, demos="same", device="cpu", protocol=protocol)
    ours = {s["id"]: s for s in map(json.loads, (tmp_path / "run" / "fr_gt_option" / "samples.jsonl").read_text().splitlines())}
    compared = 0
    for task, samples in results["samples"].items():
        subject = task.split("xbench_mmlu_fr_gt_option_")[-1]
        for sample in samples:
            mine = ours[f"{subject}/test/{sample['doc_id']}"]
            context = sample["arguments"][0][0]
            loglikelihoods = [float(r[0][0]) for r in sample["resps"]]
            assert hashlib.sha256(context.encode()).hexdigest() == mine["prompt_hash"]
            assert max(range(4), key=loglikelihoods.__getitem__) == mine["prediction"]
            assert max(abs(a - b) for a, b in zip(loglikelihoods, mine["logprobs"])) < 1e-4
            compared += 1
    assert compared == 40


@pytest.fixture(scope="module")
def quiz_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm_eval_quiz") / "hp_quiz"
    xbench.build("hp_quiz", out=out, langs="fr", cache=out.parent / "c.sqlite")
    return out


def test_quiz_export_takes_a_hub_path_and_names_the_dev_split_only_where_it_exists(quiz_build, tmp_path):
    files = export_lm_eval(str(quiz_build), tmp_path / "tasks", configs=["fr"], dataset_path="org/hp-quiz-xbench")
    (task,) = yaml.safe_load(files[0].read_text())["task"]
    assert task["task"] == "xbench_hp_quiz_fr_all" and task["dataset_path"] == "org/hp-quiz-xbench"
    assert task["fewshot_split"] == "dev" and task["test_split"] == "test"  # the quiz has a dev split since v2
    assert task["description"] == "Voici des questions à choix multiples (avec leurs réponses) sur Harry Potter.\n\n"
    test_only = tmp_path / "test_only"
    xbench.build("hp_quiz", out=test_only, langs="fr", splits="test", cache=tmp_path / "c.sqlite")
    (task,) = yaml.safe_load(export_lm_eval(str(test_only), tmp_path / "tasks2", configs=["fr"])[0].read_text())["task"]
    assert "fewshot_split" not in task and "fewshot_config" not in task and task["test_split"] == "test"


def _run_lm_eval(tasks_dir, task, model, shots, limit=None):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    return simple_evaluate(
        model="hf",
        model_args=f"pretrained={model},dtype=float32",
        tasks=[task],
        num_fewshot=shots,
        batch_size=4,
        limit=limit,
        log_samples=True,
        task_manager=TaskManager(include_path=str(tasks_dir)),
        device="cpu",
    )


@pytest.mark.slow
def test_lm_eval_runs_the_quiz_export_and_agrees_with_xbench_eval(tiny_model_dir, quiz_build, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("lm_eval")

    from xbench.runner.evaluate import evaluate

    export_lm_eval(str(quiz_build), tmp_path / "tasks", configs=["fr"])
    results = _run_lm_eval(tmp_path / "tasks", "xbench_hp_quiz_fr", tiny_model_dir, shots=0, limit=20)
    evaluate(str(tiny_model_dir), str(quiz_build), out=tmp_path / "run", configs=["fr"], limit=20, device="cpu", protocol="harness")  # the export is harness
    ours = [json.loads(line) for line in (tmp_path / "run" / "fr" / "samples.jsonl").read_text().splitlines()]
    (samples,) = results["samples"].values()
    assert len(samples) == 20
    for sample in samples:
        mine = ours[sample["doc_id"]]
        loglikelihoods = [float(r[0][0]) for r in sample["resps"]]
        assert hashlib.sha256(sample["arguments"][0][0].encode()).hexdigest() == mine["prompt_hash"]
        assert max(range(4), key=loglikelihoods.__getitem__) == mine["prediction"]


def test_generation_and_text_families_are_refused_with_one_line(tmp_path):
    from helpers import write_jsonl

    tofu = tmp_path / "tofu"
    xbench.build(
        "tofu",
        out=tofu,
        source=str(write_jsonl(tmp_path / "full.jsonl", [{"question": "Q1?", "answer": "A1."}])),
        translator="pseudo",
        cache=tmp_path / "c.sqlite",
        langs="it",
    )
    with pytest.raises(xbench.InputError, match=r"config 'full_en': no test split \(splits: train\); lm-eval export covers"):
        export_lm_eval(str(tofu), tmp_path / "tasks")
    wiki = tmp_path / "wiki_src"
    wiki.mkdir()
    (wiki / "wiki.test.txt").write_text(" = Title = \n The cat sat . It slept .\n", encoding="utf-8")
    built = tmp_path / "wiki"
    xbench.build("wikitext_mixed", out=built, source=str(wiki), translator="pseudo", cache=tmp_path / "c.sqlite", splits="test", options={"unit": "sentence"})
    with pytest.raises(xbench.InputError, match="missing column"):
        export_lm_eval(str(built), tmp_path / "tasks2")
    assert not list((tmp_path / "tasks").glob("*.yaml")) and not list((tmp_path / "tasks2").glob("*.yaml"))
